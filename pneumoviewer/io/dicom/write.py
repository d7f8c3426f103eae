"""The one DICOM writer: image datasets from numpy arrays, in any transfer syntax the reader supports.

The phantom generator, tests and benchmarks write every DICOM image through it, so that each transfer syntax can be
produced on any machine without real patient data. Pixel encoders: Pillow for JPEG Baseline
(pydicom has no JPEG Baseline encoder), pydicom's own encoders (`Dataset.compress`) for RLE, JPEG-LS, JPEG 2000.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    generate_uid,
)


def build_dataset(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    sop_class_uid: str = SecondaryCaptureImageStorage,
    sop_instance_uid: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Dataset:
    """An uncompressed (Explicit VR Little Endian) image dataset holding `pixels` (2-D, or 3-D frames/RGB).

    `attrs` (keyword → value) are set last and win over the defaults; a value the standard would refuse (SIIM's
    PatientAge '38') is written as given, as real files carry such values."""
    arr = np.ascontiguousarray(pixels)
    if arr.dtype.kind not in "ui":
        raise ValueError(f"pixels must be an integer array, not {arr.dtype}")
    rgb = photometric in ("RGB", "YBR_FULL")
    frames_axis = arr.ndim == 4 or (arr.ndim == 3 and not rgb)
    n_frames = arr.shape[0] if frames_axis else 1
    rows, cols = (arr.shape[1:3] if frames_axis else arr.shape[:2])
    bits_allocated = arr.dtype.itemsize * 8
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    uid = sop_instance_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "ANON-" + uid[-8:]
    ds.PatientName = "Anon^" + uid[-8:]
    ds.SamplesPerPixel = 3 if rgb else 1
    if rgb:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(rows), int(cols)
    if frames_axis:
        ds.NumberOfFrames = n_frames
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SIIM writes ages as '38', which pydicom flags as a non-standard AS
        for key, value in (attrs or {}).items():
            setattr(ds, key, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    ds["PixelData"].VR = "OB" if bits_allocated == 8 else "OW"
    return ds


def encode_jpeg_baseline(ds: Dataset, quality: int = 95) -> Dataset:
    """Re-encode an 8-bit MONOCHROME dataset's frames as JPEG Baseline (Pillow), in place; returns `ds`."""
    from PIL import Image

    if ds.BitsAllocated != 8 or ds.SamplesPerPixel != 1:
        raise ValueError("JPEG Baseline here takes 8-bit single-sample images only")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    flat = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(n_frames, ds.Rows, ds.Columns)
    frames = []
    for frame in flat:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
        frames.append(buf.getvalue())
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return ds


def write_dicom(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    sop_class_uid: str = SecondaryCaptureImageStorage,
    attrs: Mapping[str, Any] | None = None,
    jpeg_quality: int = 95,
) -> Path:
    """Write `pixels` as a DICOM file in `transfer_syntax`; returns the path.

    JPEG Baseline goes through Pillow; RLE, JPEG-LS and JPEG 2000 (lossless) through pydicom's encoders.
    """
    ds = build_dataset(pixels, photometric=photometric, bits_stored=bits_stored, sop_class_uid=sop_class_uid,
                       attrs=attrs)
    if transfer_syntax == JPEGBaseline8Bit:
        encode_jpeg_baseline(ds, quality=jpeg_quality)
    elif transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(transfer_syntax, generate_instance_uid=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


def dataset_bytes(ds: Dataset) -> bytes:
    """`ds` as the bytes of a DICOM file (preamble, file meta, dataset), e.g. for an atomic write."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


__all__ = [
    "build_dataset",
    "dataset_bytes",
    "encode_jpeg_baseline",
    "write_dicom",
]
