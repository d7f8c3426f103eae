"""The one preprocessing path from a display image to a network input, shared by training and inference.

Training (``pneumoviewer.training.data``) and the inference engine both call :func:`preprocess_image`, so a model
never sees pixels prepared differently from the ones it was trained on. Pure numpy + Pillow; no TensorFlow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _resize_float(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D float32 array; Pillow widens the kernel when shrinking (antialiasing)."""
    src = np.ascontiguousarray(array, dtype=np.float32)
    if src.shape == (height, width):
        return src.copy()
    return np.array(Image.fromarray(src).resize((int(width), int(height)), Image.BILINEAR), dtype=np.float32)


def preprocess_image(display: np.ndarray, size: int) -> np.ndarray:
    """Display image (2-D float32 in [0, 1]) → network input (size, size, 1) float32 in [0, 1].

    Non-square images are stretched to a square (the mask is stretched back by :func:`resize_probability`), which
    keeps the whole field of view; NaNs become 0.
    """
    arr = np.asarray(display)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D display image, got shape {arr.shape}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    arr = np.nan_to_num(arr.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
    out = _resize_float(arr, size, size)
    np.clip(out, 0.0, 1.0, out=out)
    return out[..., None]


def preprocess_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Binary mask (H, W) → training target (size, size, 1) float32 in {0, 1}, resized like the image."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    out = _resize_float(arr.astype(np.float32), size, size)
    return (out >= 0.5).astype(np.float32)[..., None]


def resize_probability(prob: np.ndarray, height: int, width: int) -> np.ndarray:
    """Network probability map (S, S[, 1]) → float32 (height, width) at the source image's own size."""
    arr = np.asarray(prob, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[..., 0]
    out = _resize_float(arr, height, width)
    np.clip(out, 0.0, 1.0, out=out)
    return out
