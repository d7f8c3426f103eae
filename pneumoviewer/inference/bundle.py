"""Model bundles: a folder of ``.keras`` files plus ``manifest.json`` (config, thresholds, metrics, sha256s).

``read_manifest`` is pure Python (no TensorFlow) so the GUI can show which model it will use without paying the
TensorFlow import. ``load_bundle`` verifies every file's sha256 first, then loads each model with Keras safe mode
(a bundle that smuggles code in a ``Lambda`` layer is refused) and checks the input/output shapes.

A bundle is someone else's folder, so nothing in it may reach outside it: every file the manifest names is a plain
file name (no ``/``, ``\\``, ``..``, drive or control character), its real path (symlinks followed) must lie inside
the bundle folder, and it must be a regular file of at most `MAX_FILE_BYTES` (so a manifest cannot make the app read
and hash ``/dev/zero``, a FIFO or a 20 GB sparse file). The manifest itself is a regular file of at most
`MAX_MANIFEST_BYTES`, and its name, version, labels and architectures hold no control characters (they are echoed
on terminals and written into exports).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pneumoviewer.core.text import printable
from pneumoviewer.core.types import ModelInfo
from pneumoviewer.inference.config import PREPROCESSING, TASKS, ModelConfig
from pneumoviewer.io.atomic import atomic_write

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "pneumoviewer-model-bundle"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 16 << 20  # real manifests are a few kB
MAX_FILE_BYTES = 4 << 30  # a DenseNet121 U-Net is ~100 MB; a bigger "model" is not one


class BundleError(ValueError):
    """A bundle is missing, malformed, tampered with or incompatible; the message names the file.

    The message is `printable`: it may quote names from the manifest, and callers echo it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


@dataclass(frozen=True)
class ModelEntry:
    """One model of a bundle: its file, architecture, input size and how it was trained and validated."""

    task: str
    file: str
    arch: str
    input_size: int
    training: Mapping[str, Any] = field(default_factory=dict)
    validation: Mapping[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.input_size, self.input_size, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "arch": self.arch,
            "input_size": self.input_size,
            "input_shape": list(self.input_shape),
            "output": "sigmoid probability" if self.task == "classifier" else "sigmoid probability map (S, S, 1)",
            "training": dict(self.training),
            "validation": dict(self.validation),
        }


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` of a bundle directory."""

    root: Path
    config: ModelConfig
    models: Mapping[str, ModelEntry]
    files: Mapping[str, str]  # file name -> sha256 hex
    created: str = ""
    format_version: int = FORMAT_VERSION
    notes: str = ""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def synthetic(self) -> bool:
        return self.config.synthetic

    @property
    def sha256(self) -> str:
        """The bundle's identity: sha256 over its files' own sha256s, sorted by name (same files, same results)."""
        h = hashlib.sha256()
        for name, digest in sorted(self.files.items()):
            h.update(f"{name}\0{digest}\n".encode())
        return h.hexdigest()

    @property
    def model_info(self) -> ModelInfo:
        c = self.config
        return ModelInfo(name=c.name, version=c.version, synthetic=c.synthetic, sha256=self.sha256)

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "name": cfg.name,
            "version": cfg.version,
            "created": self.created,
            "synthetic": cfg.synthetic,
            "labels": list(cfg.labels),
            "preprocessing": dict(cfg.preprocessing),
            "thresholds": {
                "classifier_probability": cfg.classifier_threshold,
                "mask_probability": cfg.mask_threshold,
                "min_mask_area_px_at_1024": cfg.min_area_px_1024,
            },
            "models": {task: entry.to_dict() for task, entry in sorted(self.models.items())},
            "files": {name: {"sha256": digest} for name, digest in sorted(self.files.items())},
            "notes": self.notes,
        }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise BundleError(f"{path}: {what}")


def _is_plain_name(name: str) -> bool:
    """A file name that stays in the folder it is joined to, on every OS (no separator, drive, ``..``, control)."""
    return (
        name not in ("", ".", "..")
        and PurePosixPath(name).name == name
        and PureWindowsPath(name).name == name
        and printable(name) == name
    )


def _inside(root: Path, name: str, max_bytes: int = MAX_FILE_BYTES) -> Path:
    """``root / name`` if it is a regular file of at most `max_bytes` whose real path lies inside ``root``."""
    fpath = root / name
    try:
        real = fpath.resolve(strict=True)
    except FileNotFoundError:
        raise BundleError(f"{fpath}: listed in {MANIFEST_NAME} but missing") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise BundleError(f"{fpath}: cannot be read: {exc}") from None
    if not real.is_relative_to(root.resolve()):
        raise BundleError(f"{fpath}: points outside the bundle folder (to {real}); refused")
    if not real.is_file():
        raise BundleError(f"{fpath}: not a regular file")
    size = real.stat().st_size
    if size > max_bytes:
        raise BundleError(f"{fpath}: {size:,} bytes, more than a bundle file may have ({max_bytes:,})")
    return fpath


def read_manifest(bundle_dir: str | os.PathLike[str]) -> Manifest:
    """Parse and validate ``bundle_dir/manifest.json`` (no TensorFlow, no hashing)."""
    root = Path(bundle_dir)
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise BundleError(f"{root}: model bundle folder not found")
    if not path.exists() and not path.is_symlink():
        raise BundleError(f"{path}: manifest not found (is {root} a model bundle?)")
    try:
        data = json.loads(_inside(root, MANIFEST_NAME, MAX_MANIFEST_BYTES).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: unreadable manifest: {exc}") from exc
    except RecursionError:
        raise BundleError(f"{path}: unreadable manifest: nested too deeply") from None
    _require(isinstance(data, dict), path, "manifest must be a JSON object")
    _require(data.get("format", FORMAT_NAME) == FORMAT_NAME, path, f"not a {FORMAT_NAME} manifest")
    fv = data.get("format_version")
    _require(isinstance(fv, int), path, "missing format_version")
    _require(fv <= FORMAT_VERSION, path,
             f"format_version {fv} is newer than this PneumoViewer reads ({FORMAT_VERSION})")
    try:
        thr = data.get("thresholds", {})
        models_raw = data.get("models", {})
        _require(isinstance(models_raw, dict) and models_raw, path, "no models listed")
        sizes = {}
        models: dict[str, ModelEntry] = {}
        for task, m in models_raw.items():
            _require(task in TASKS, path, f"unknown model task {task!r} (expected {TASKS})")
            entry = ModelEntry(
                task=task,
                file=str(m["file"]),
                arch=str(m.get("arch", "")),
                input_size=int(m["input_size"]),
                training=dict(m.get("training", {})),
                validation=dict(m.get("validation", {})),
            )
            _require(_is_plain_name(entry.file), path,
                     f"model file must be a plain name inside the bundle, got {entry.file!r}")
            models[task] = entry
            sizes[f"{task}_size"] = entry.input_size
        config = ModelConfig.from_dict(
            {
                "name": data["name"],
                "version": str(data.get("version", "0")),
                "labels": data.get("labels", ["pneumothorax"]),
                "synthetic": bool(data.get("synthetic", False)),
                "preprocessing": data.get("preprocessing", dict(PREPROCESSING)),
                "classifier_threshold": thr.get("classifier_probability", 0.5),
                "mask_threshold": thr.get("mask_probability", 0.5),
                "min_area_px_1024": thr.get("min_mask_area_px_at_1024", 0),
                **sizes,
            }
        )
        files_raw = data.get("files", {})
        files = {str(k): str(v["sha256"] if isinstance(v, dict) else v).lower() for k, v in files_raw.items()}
        for name in files:
            _require(_is_plain_name(name), path, f"listed file must be a plain name inside the bundle, got {name!r}")
        for what, text in [("name", config.name), ("version", config.version),
                           *(("label", label) for label in config.labels),
                           *(("arch", e.arch) for e in models.values())]:
            _require(printable(text) == text, path, f"{what} {text!r} holds control characters")
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{path}: invalid manifest: {type(exc).__name__}: {exc}") from exc
    for entry in models.values():
        _require(entry.file in files, path, f"{entry.file} has no sha256 in 'files'")
    return Manifest(
        root=root,
        config=config,
        models=models,
        files=files,
        created=str(data.get("created", "")),
        format_version=fv,
        notes=str(data.get("notes", "")),
    )


def verify_files(manifest: Manifest) -> None:
    """Check every listed file exists and matches its sha256; raises BundleError naming the first bad file."""
    for name, digest in sorted(manifest.files.items()):
        fpath = _inside(manifest.root, name)
        actual = sha256_file(fpath)
        if actual != digest:
            raise BundleError(
                f"{fpath}: sha256 mismatch (manifest {digest[:12]}…, file {actual[:12]}…); "
                "the file was changed or corrupted after the bundle was written"
            )


def bundle_files(root: Path) -> list[str]:
    """Regular files a manifest must cover: everything but the manifest itself, hidden files/folders, names that are
    not plain and symlinks that point out of the folder (not part of the bundle: reading would refuse them)."""
    out = []
    inside = root.resolve()
    for p in sorted(root.iterdir()):
        if p.name == MANIFEST_NAME or p.name.startswith(".") or not p.is_file():
            continue
        if not _is_plain_name(p.name) or not p.resolve().is_relative_to(inside):
            continue
        out.append(p.name)
    return out


def write_manifest(
    root: str | os.PathLike[str],
    config: ModelConfig,
    models: Mapping[str, ModelEntry],
    notes: str = "",
    created: str | None = None,
) -> Manifest:
    """Hash every file in ``root`` and write ``manifest.json`` atomically; returns the manifest written."""
    rootp = Path(root)
    files = {name: sha256_file(rootp / name) for name in bundle_files(rootp)}
    for entry in models.values():
        if entry.file not in files:
            raise BundleError(f"{rootp / entry.file}: model file missing while writing the manifest")
    config = replace(config, **{f"{t}_size": e.input_size for t, e in models.items()})
    manifest = Manifest(
        root=rootp,
        config=config,
        models=dict(models),
        files=files,
        created=created or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        notes=notes,
    )
    with atomic_write(rootp / MANIFEST_NAME, "w", encoding="utf-8") as fh:
        json.dump(manifest.to_dict(), fh, indent=2, sort_keys=False)
        fh.write("\n")
    with contextlib.suppress(OSError):
        os.chmod(rootp / MANIFEST_NAME, 0o644)  # a bundle is shared read-only data, not a private export
    return manifest


def rehash(root: str | os.PathLike[str]) -> Manifest:
    """Re-write the manifest's file hashes after adding a file (e.g. a model card); keeps everything else."""
    m = read_manifest(root)
    return write_manifest(root, m.config, m.models, notes=m.notes, created=m.created or None)


@dataclass
class ModelBundle:
    """A verified, loaded bundle: the manifest plus the Keras models by task."""

    manifest: Manifest
    models: dict[str, Any]  # task -> keras.Model

    @property
    def config(self) -> ModelConfig:
        return self.manifest.config


def load_bundle(bundle_dir: str | os.PathLike[str], tasks: tuple[str, ...] | None = None) -> ModelBundle:
    """Verify sha256s, then load each model with Keras safe mode and check its shapes (imports TensorFlow)."""
    manifest = read_manifest(bundle_dir)
    verify_files(manifest)
    from pneumoviewer.inference import backend

    wanted = tasks or tuple(t for t in TASKS if t in manifest.models)
    models: dict[str, Any] = {}
    for task in wanted:
        entry = manifest.models.get(task)
        if entry is None:
            raise BundleError(f"{manifest.root / MANIFEST_NAME}: bundle has no {task} model")
        fpath = manifest.root / entry.file
        try:
            model = backend.load_model(fpath)
        except Exception as exc:  # Keras raises ValueError/TypeError/OSError depending on what is wrong
            raise BundleError(f"{fpath}: could not load the {task} model safely: {exc}") from exc
        in_shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
        if in_shape != entry.input_shape:
            raise BundleError(f"{fpath}: input shape {in_shape} does not match the manifest's {entry.input_shape}")
        out_shape = tuple(model.outputs[0].shape[1:])
        expected = (1,) if task == "classifier" else entry.input_shape
        if out_shape != expected:
            raise BundleError(f"{fpath}: {task} output shape {out_shape}, expected {expected}")
        models[task] = model
    return ModelBundle(manifest=manifest, models=models)
