"""One decoded frame with its display image (`load_image` → `DicomImage`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pneumoviewer.core.types import ImageMeta
from pneumoviewer.io.dicom.decode import decode_frame
from pneumoviewer.io.dicom.display import DisplayResult, display_from_array, modality_values
from pneumoviewer.io.dicom.header import _FATAL, DicomError, _int, _quiet, _short, meta_from_dataset, read_dataset


@dataclass(eq=False)
class DicomImage:
    """One decoded frame: the stored array (read-only), the display image and how it was windowed.

    `.display` is float32 in [0, 1], 2-D (colour images show as luminance), air dark for every photometric
    interpretation. `.window` is the default (center, width) in modality units, `.invert` whether white is low;
    `rewindow()` makes a new display for another window without touching `.pixels`.
    """

    path: Path
    meta: ImageMeta
    pixels: np.ndarray
    display: np.ndarray
    window: tuple[float, float]
    invert: bool
    voi_function: str = "LINEAR"
    window_source: str = "percentile"  # 'voi_lut', 'tags', 'percentile' or 'color'
    frame: int = 0
    _pipeline: Dataset = field(default_factory=Dataset, repr=False)

    @property
    def image_id(self) -> str:
        return self.meta.image_id

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.display.shape[0]), int(self.display.shape[1]))

    def modality_pixels(self) -> np.ndarray:
        """Stored values through the modality LUT (float32, a new array); colour → luminance."""
        return modality_values(self.pixels, self._pipeline)

    def value_range(self) -> tuple[float, float]:
        """(min, max) modality value: the range a window/level control should offer."""
        values = self.modality_pixels()
        return (float(np.min(values)), float(np.max(values)))

    def rewindow(self, center: float, width: float, invert: bool | None = None) -> np.ndarray:
        """A new display image for another window (modality units); VOI LUTs are bypassed, as viewers do."""
        inv = self.invert if invert is None else invert
        return display_from_array(self.pixels, self._pipeline, window=(center, width), invert=inv,
                                  function=self.voi_function).display


_PIPELINE_TAGS = (
    "PhotometricInterpretation",
    "PresentationLUTShape",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "VOILUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "PixelRepresentation",
    "BitsStored",
    "BitsAllocated",
    "SamplesPerPixel",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
)


def _pipeline_subset(ds: Dataset) -> Dataset:
    """The tags the display pipeline reads, without the pixel data (what a DicomImage keeps for re-windowing)."""
    sub = Dataset()
    for tag in _pipeline_tag_ints():
        elem = ds.get_item(tag)  # raw (unconverted) elements are copied as they are: cheap
        if elem is not None:
            sub[tag] = elem
    if getattr(ds, "file_meta", None) is not None:
        sub.file_meta = ds.file_meta
    sub.set_original_encoding(*ds.original_encoding)
    return sub


@lru_cache(maxsize=1)
def _pipeline_tag_ints() -> tuple[int, ...]:
    from pydicom.datadict import tag_for_keyword

    return tuple(int(tag_for_keyword(k)) for k in _PIPELINE_TAGS)  # type: ignore[arg-type]


def load_image(path: str | os.PathLike[str], frame: int = 0) -> DicomImage:
    """Read, decode one frame and build its display image. Raises DicomError for every bad file."""
    p = Path(path)
    ds = read_dataset(p)
    try:
        with _quiet():
            return _build_image(p, ds, frame)
    except DicomError:
        raise
    except _FATAL:
        raise
    except BaseException as exc:
        raise DicomError(p, f"cannot display pixel data ({_short(exc)})") from None


def _check_native_length(ds: Dataset, meta: ImageMeta, p: Path) -> None:
    """Uncompressed pixel data shorter than Rows×Columns×Samples×Frames says: a truncated file."""
    if "PixelData" not in ds or ds["PixelData"].is_undefined_length or UID(meta.transfer_syntax or "").is_compressed:
        return
    bits = _int(ds.get("BitsAllocated"), 0)
    samples = _int(ds.get("SamplesPerPixel"), 1) or 1
    if bits <= 0:
        return
    if samples == 3 and (meta.photometric or "").upper() == "YBR_FULL_422":
        samples = 2  # chroma subsampled horizontally: 2 samples per pixel on average
    expected = (meta.rows * meta.columns * samples * meta.n_frames * bits + 7) // 8
    held = len(ds.PixelData or b"")
    if held < expected:
        raise DicomError(p, f"truncated: pixel data holds {held} of {expected} bytes")


def _build_image(p: Path, ds: Dataset, frame: int) -> DicomImage:
    meta = meta_from_dataset(ds, p)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DicomError(p, "no pixel data")
    if not isinstance(frame, (int, np.integer)) or not 0 <= frame < meta.n_frames:
        raise DicomError(p, f"frame {frame} out of range: the file has {meta.n_frames} frame(s)")
    _check_native_length(ds, meta, p)
    pixels = decode_frame(ds, int(frame), p)
    if pixels.shape[:2] != (meta.rows, meta.columns):
        raise DicomError(p, f"decoded shape {pixels.shape} does not match Rows×Columns {meta.rows}×{meta.columns}")
    pipeline = _pipeline_subset(ds)
    result: DisplayResult = display_from_array(pixels, pipeline)
    pixels.flags.writeable = False
    return DicomImage(
        path=p,
        meta=meta,
        pixels=pixels,
        display=result.display,
        window=result.window,
        invert=result.invert,
        voi_function=result.voi_function,
        window_source=result.source,
        frame=int(frame),
        _pipeline=pipeline,
    )
