"""Which model bundles exist on this machine, and which one a folder opens with (no TensorFlow, no Qt).

Bundles are found in two places: the shipped ones (``models/`` beside the package: ``demo`` trained on phantoms,
``siim`` trained on real radiographs) and the user's own (``<user data>/models``, e.g. written by ``pneumoviewer
train --out``). A folder of our synthetic phantoms opens with the demo bundle; any other folder with the real one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pneumoviewer.core.paths import models_dir, user_data_dir
from pneumoviewer.core.types import ModelInfo
from pneumoviewer.inference.bundle import BundleError, read_manifest

DEMO_BUNDLE = "demo"
REAL_BUNDLE = "siim"
MODEL_CARD = "MODEL_CARD.md"


def user_models_dir() -> Path:
    """Where a user's own bundles live (one sub-folder per bundle)."""
    env = os.environ.get("PNEUMOVIEWER_USER_MODELS")
    return Path(env) if env else user_data_dir() / "models"


@dataclass(frozen=True)
class BundleEntry:
    """One bundle found on disk, as a model picker shows it."""

    path: Path
    origin: str  # "shipped" | "user"
    info: ModelInfo | None = None
    sha256: str = ""  # the bundle identity (Manifest.sha256) that results in the review store carry
    validation: dict[str, Any] = field(default_factory=dict)  # task -> figures from the manifest
    training_data: str = ""
    error: str = ""  # why it cannot be used (broken manifest); such entries are listed, never chosen

    @property
    def usable(self) -> bool:
        return self.info is not None and not self.error

    @property
    def card(self) -> Path | None:
        p = self.path / MODEL_CARD
        # a card is shown, never followed out of its bundle (a symlink to any file would be read and displayed)
        inside = p.resolve().is_relative_to(self.path.resolve())
        return p if inside and p.is_file() and not p.is_symlink() else None

    def card_text(self, limit: int = 200_000) -> str:
        """The model card (Markdown), or a line saying there is none."""
        p = self.card
        if p is None:
            return f"No {MODEL_CARD} in {self.path}."
        with open(p, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)


def _entry(path: Path, origin: str) -> BundleEntry:
    try:
        m = read_manifest(path)
    except BundleError as exc:
        return BundleEntry(path=path, origin=origin, error=str(exc))
    data = "synthetic phantoms (never a real radiograph)" if m.synthetic else "real radiographs"
    sources = sorted({str(e.training.get("data", "")) for e in m.models.values() if e.training.get("data")})
    if sources:
        data += f": {', '.join(sources)}"
    return BundleEntry(path=path, origin=origin, info=m.model_info, sha256=m.sha256,
                       validation={t: dict(e.validation) for t, e in m.models.items()}, training_data=data)


def find_bundles(extra: list[Path] | None = None) -> list[BundleEntry]:
    """Every bundle folder (one with a manifest.json) in the shipped and the user models folders, plus ``extra``.

    Shipped first (demo, then siim, then the rest by name), then the user's by name; a folder is listed once.
    """
    seen: set[Path] = set()
    out: list[BundleEntry] = []

    def add(path: Path, origin: str) -> None:
        key = path.resolve()
        if key in seen or not (path / "manifest.json").is_file():
            return
        seen.add(key)
        out.append(_entry(path, origin))

    order = {DEMO_BUNDLE: 0, REAL_BUNDLE: 1}
    for root, origin in ((models_dir(), "shipped"), (user_models_dir(), "user")):
        if not root.is_dir():
            continue
        for sub in sorted(root.iterdir(), key=lambda p: (order.get(p.name, 2), p.name)):
            if sub.is_dir() and not sub.name.startswith("."):
                add(sub, origin)
    for path in extra or []:
        add(Path(path), "user")
    return out


def default_bundle(folder_is_phantoms: bool, bundles: list[BundleEntry] | None = None) -> Path:
    """The bundle a folder opens with when the user has not chosen one for it.

    Our phantoms → the demo bundle (that is what it was trained on); anything else → the first usable bundle
    trained on real radiographs (the shipped ``siim`` one), falling back to the demo bundle when none exists.
    """
    found = bundles if bundles is not None else find_bundles()
    usable = [b for b in found if b.usable]
    demo = next((b.path for b in usable if b.path.name == DEMO_BUNDLE and b.origin == "shipped"), None)
    demo = demo or models_dir() / DEMO_BUNDLE
    if folder_is_phantoms:
        return demo
    real = [b for b in usable if b.info is not None and not b.info.synthetic]
    real.sort(key=lambda b: (b.origin != "shipped", b.path.name != REAL_BUNDLE, b.path.name))
    return real[0].path if real else demo
