"""PNG masks: 8-bit greyscale, 0 = background, 255 = pneumothorax, at the image's own size."""

from __future__ import annotations

import io

import numpy as np


def mask_png_bytes(mask: np.ndarray) -> bytes:
    """`mask` (2-D, truthy = pneumothorax) as the bytes of an 8-bit greyscale PNG (0/255)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8), mode="L").save(buf, "PNG")
    return buf.getvalue()
