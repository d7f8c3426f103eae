"""Deterministic synthetic chest radiographs with pneumothorax masks, in the exact SIIM-ACR layout.

SYNTHETIC DATA: these images are drawn from simple geometry and noise; they look like chest X-rays only enough for
tests, demos and smoke-training. Nothing here is a real patient or a real Kaggle image.

`anatomy` draws one case (`render_case`), `dataset` writes a SIIM-layout folder (`generate_dataset`), `films`
writes cheap SIIM-like files for tests and benchmarks (`write_siim_like`). Files go through the one DICOM writer,
`pneumoviewer.io.dicom.write`.
"""

from pneumoviewer.phantom.anatomy import SIIM_TARGETS, PhantomCase, render_case, sample_instances
from pneumoviewer.phantom.dataset import PhantomDataset, dicom_bytes, generate_dataset
from pneumoviewer.phantom.films import SIIM_DEFAULTS, chest_like, write_siim_like

__all__ = [
    "SIIM_DEFAULTS",
    "SIIM_TARGETS",
    "PhantomCase",
    "PhantomDataset",
    "chest_like",
    "dicom_bytes",
    "generate_dataset",
    "render_case",
    "sample_instances",
    "write_siim_like",
]
