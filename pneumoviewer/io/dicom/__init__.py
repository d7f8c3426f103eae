"""DICOM read and write: `header` (facts without pixels), `decode` (pixel decoders), `image` (one frame with its
display image), `display` (the display pipeline as pure functions), `write` (datasets from numpy arrays),
`deidentify` (the confidentiality profile applied to what an export copies).

Every failure with a bad file raises `DicomError` (a `ValueError`) naming the file and the reason; no other
exception type escapes for bad input. The names below are the package's public interface.
"""

from pneumoviewer.io.dicom.decode import DECODER_PREFERENCE, decode_frame
from pneumoviewer.io.dicom.display import (
    apply_window,
    default_window,
    display_from_array,
    levels_to_window,
    modality_values,
    percentile_window,
    window_to_levels,
)
from pneumoviewer.io.dicom.header import (
    HEADER_TAGS,
    DicomError,
    meta_from_dataset,
    parse_age,
    parse_sex,
    parse_view,
    read_dataset,
    read_header,
)
from pneumoviewer.io.dicom.image import DicomImage, load_image

__all__ = [
    "DECODER_PREFERENCE",
    "HEADER_TAGS",
    "DicomError",
    "DicomImage",
    "apply_window",
    "decode_frame",
    "default_window",
    "display_from_array",
    "levels_to_window",
    "load_image",
    "meta_from_dataset",
    "modality_values",
    "parse_age",
    "parse_sex",
    "parse_view",
    "percentile_window",
    "read_dataset",
    "read_header",
    "window_to_levels",
]
