"""Is this image the kind a bundle was trained on? Header-only checks, shown beside every AI result.

Two different warnings, because they mean different things to a reader:

- a bundle trained on **synthetic phantoms** running on anything that is not one of our phantoms: its output says
  nothing about a real radiograph (:func:`synthetic_on_real`);
- a **real** bundle on an image unlike its training data (not a chest radiograph by its header, or far outside the
  size or bit depth it learnt from): "outside the model's training domain" (:func:`outside_domain`).

Only DICOM header facts are used (never pixels, never a network), so the worklist can say it for 12,000 rows at once.
"""

from __future__ import annotations

from pneumoviewer.core.types import ImageMeta, ModelInfo

#: Modalities of projection radiographs; anything else (CT, MR, US, ...) is not a chest X-ray.
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "DF", "PX"})
#: Secondary captures and "other" carry re-encoded radiographs (SIIM's own files are SC with Modality CR).
UNSPECIFIC_MODALITIES = frozenset({"", "OT", "SC"})
CHEST_BODY_PARTS = frozenset({"", "CHEST", "THORAX", "LUNG", "LUNGS", "PORT CHEST", "CHEST_PA", "TORSO"})
#: Sides the real bundle's training images span (SIIM and NIH: 1024²; CR/DX detectors up to ~4,300 px).
MIN_SIDE, MAX_SIDE = 256, 4608
MAX_ASPECT = 1.6  # chest films are near square (portrait or landscape); a long strip is something else
MAX_BITS = 16

SYNTHETIC_WARNING = "this model has never seen a real radiograph"
OUTSIDE_DOMAIN = "outside the model's training domain"


def synthetic_on_real(model: ModelInfo | None, meta: ImageMeta | None) -> bool:
    """True when a phantom-trained model looks at an image that is not one of our phantoms."""
    return bool(model is not None and model.synthetic and meta is not None and not meta.synthetic_phantom)


def outside_domain(model: ModelInfo | None, meta: ImageMeta | None) -> str | None:
    """Why ``meta`` is outside a real bundle's training domain (one short phrase), or None when it is inside.

    Synthetic bundles get :func:`synthetic_on_real` instead: for them every real image is outside.
    """
    if model is None or meta is None or model.synthetic:
        return None
    modality = (meta.modality or "").strip().upper()
    if modality not in RADIOGRAPH_MODALITIES and modality not in UNSPECIFIC_MODALITIES:
        return f"{OUTSIDE_DOMAIN}: modality {modality}, not a radiograph"
    body = (meta.body_part or "").strip().upper()
    if body not in CHEST_BODY_PARTS:
        return f"{OUTSIDE_DOMAIN}: body part {body}, not a chest"
    if meta.view_position and meta.view_position.strip().upper() in {"LL", "RL", "LAT", "LATERAL", "RLD", "LLD"}:
        return f"{OUTSIDE_DOMAIN}: lateral view (trained on frontal PA/AP films)"
    rows, cols = int(meta.rows or 0), int(meta.columns or 0)
    if rows and cols:
        if min(rows, cols) < MIN_SIDE or max(rows, cols) > MAX_SIDE:
            return f"{OUTSIDE_DOMAIN}: {cols}×{rows} px (trained on {MIN_SIDE}–{MAX_SIDE} px films)"
        if max(rows, cols) / min(rows, cols) > MAX_ASPECT:
            return f"{OUTSIDE_DOMAIN}: {cols}×{rows} px is not a chest film's shape"
    if meta.bits_stored and int(meta.bits_stored) > MAX_BITS:
        return f"{OUTSIDE_DOMAIN}: {meta.bits_stored}-bit pixels"
    if (meta.n_frames or 1) > 1:
        return f"{OUTSIDE_DOMAIN}: {meta.n_frames} frames (trained on single radiographs)"
    return None
