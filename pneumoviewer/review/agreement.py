"""Agreement between the AI (`original`) and the reviewer (`final`), and against an imported reference layer.

Dice per image (1.0 when both masks are empty, as the SIIM metric). Only images with both masks count for
AI-vs-reviewer; the reference comparisons use the images that have a reference. The AI masks are one model's
(`model_sha256`) or, by default, per image the folder's current model's else the newest (``ReviewStore.ai_result``);
``models`` says which models the figures come from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pneumoviewer.metrics import dice
from pneumoviewer.review.store import ReviewStore


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def ai_models_used(store: ReviewStore, model_sha256: str | None = None) -> list[dict[str, Any]]:
    """Which models' AI results a reader of `store` gets (`model_sha256`, or the store's pick per image), with how
    many images each: for saying what an evaluation or an export of the AI masks is of."""
    counts: dict[tuple[str, str, bool, str | None], int] = {}
    for ai in store.stored_ai(model_sha256).values():
        key = (ai.model.name, ai.model.version, ai.model.synthetic, ai.model_sha256)
        counts[key] = counts.get(key, 0) + 1
    return [
        {"name": name, "version": version, "synthetic": synthetic, "sha256": sha, "images": n}
        for (name, version, synthetic, sha), n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]


def model_line(m: dict[str, Any] | None) -> str:
    """'name vX (sha256 0123456789ab…): N images' — which model an evaluation or export of AI masks is of."""
    if m is None:
        return "none (no AI results in the store)"
    sha = f"sha256 {m['sha256'][:12]}…" if m["sha256"] else "bundle unknown"
    return f"{m['name']} v{m['version']}{' (synthetic)' if m['synthetic'] else ''} ({sha}): {m['images']} image(s)"


def agreement(store: ReviewStore, model_sha256: str | None = None) -> dict[str, Any]:
    """Per-image and mean Dice of AI vs final (+ final/AI vs reference where imported), by review status.

    Returns a JSON-ready dict: ``n_images``, ``mean_dice``, ``per_image`` {id: dice}, ``unchanged`` (images whose
    final mask is exactly the AI mask), ``by_status`` {status: {n, mean_dice}}, and when a reference layer exists
    ``reference`` {n_images, final_mean_dice, ai_mean_dice, per_image {id: {final, ai}}}, and ``models`` (which
    AI models, with how many images: :func:`ai_models_used`).
    """
    per_image: dict[str, float] = {}
    by_status: dict[str, list[float]] = {}
    unchanged = 0
    ref_final: dict[str, float] = {}
    ref_ai: dict[str, float] = {}
    records = store.records()
    with_ai = store.stored_ai(model_sha256)
    for image_id, rec in records.items():
        final = store.final_mask(image_id) if rec.has_final else None
        original = store.original_mask(image_id, model_sha256) if image_id in with_ai else None
        if final is not None and original is not None:
            d = float(dice(original, final))
            per_image[image_id] = d
            by_status.setdefault(rec.status.value, []).append(d)
            if np.array_equal(original, final):
                unchanged += 1
        reference = store.reference_mask(image_id)
        if reference is not None:
            if final is not None:
                ref_final[image_id] = float(dice(final, reference))
            if original is not None:
                ref_ai[image_id] = float(dice(original, reference))
    out: dict[str, Any] = {
        "n_images": len(per_image),
        "mean_dice": _mean(list(per_image.values())),
        "unchanged": unchanged,
        "per_image": per_image,
        "by_status": {k: {"n": len(v), "mean_dice": _mean(v)} for k, v in sorted(by_status.items())},
        "models": ai_models_used(store, model_sha256),
    }
    if ref_final or ref_ai:
        ids = sorted(set(ref_final) | set(ref_ai))
        out["reference"] = {
            "source": store.reference_source(),
            "n_images": len(ids),
            "final_mean_dice": _mean(list(ref_final.values())),
            "ai_mean_dice": _mean(list(ref_ai.values())),
            "per_image": {i: {"final": ref_final.get(i), "ai": ref_ai.get(i)} for i in ids},
        }
    return out
