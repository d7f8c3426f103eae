"""Cheap SIIM-like films for tests and speed measurements (no anatomy: see `anatomy.render_case` for that).

SYNTHETIC DATA: a smooth chest-film look-alike with noise; nothing here is a real patient.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import JPEGBaseline8Bit

from pneumoviewer.io.dicom.write import write_dicom

# Tags a SIIM-ACR training file carries (values are made up; the layout is what matters to the reader).
SIIM_DEFAULTS: dict[str, Any] = {
    "Modality": "CR",
    "BodyPartExamined": "CHEST",
    "ViewPosition": "PA",
    "SeriesDescription": "view: PA",
    "PatientAge": "38",
    "PatientSex": "M",
    "ConversionType": "WSD",
    "PixelSpacing": [0.168, 0.168],
    "StudyDate": "19010101",
    "StudyTime": "000000.00",
    "LossyImageCompression": "01",
    "LossyImageCompressionMethod": "ISO_10918_1",
}


def chest_like(size: int | tuple[int, int] = 1024, seed: int = 0, noise: float = 2.5) -> np.ndarray:
    """A cheap 8-bit chest-film look-alike (dark lungs, bright mediastinum and edges, noise) for speed tests."""
    rows, cols = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    y /= rows
    x /= cols
    lungs = np.exp(-(((x - 0.3) / 0.15) ** 2 + ((y - 0.5) / 0.3) ** 2)) + np.exp(
        -(((x - 0.7) / 0.15) ** 2 + ((y - 0.5) / 0.3) ** 2)
    )
    img = 200 - 130 * lungs + 15 * np.sin(y * 40) * lungs + rng.normal(0, noise, (rows, cols))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_siim_like(
    path: str | os.PathLike[str], *, size: int = 1024, seed: int = 0, attrs: Mapping[str, Any] | None = None
) -> Path:
    """A SIIM-ACR-style file: JPEG Baseline, 8-bit MONOCHROME2, square, no window tags, `view: PA` description."""
    merged = {**SIIM_DEFAULTS, **(attrs or {})}
    return write_dicom(path, chest_like(size, seed), transfer_syntax=JPEGBaseline8Bit, attrs=merged)
