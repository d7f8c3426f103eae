"""Reading DICOM images: fast headers (`read_header`), one decoded frame with its display image (`load_image`).

Every failure with a bad file raises `DicomError` (a `ValueError`) naming the file and the reason; no other
exception type escapes for bad input. The display pipeline lives in `dicom_display` (pure functions the viewer
reuses to re-window); decoder choice per transfer syntax lives here (`DECODER_PREFERENCE`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import secrets
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from pneumoviewer.core.paths import user_data_dir
from pneumoviewer.core.types import ImageMeta
from pneumoviewer.io.dicom_display import (
    DisplayResult,
    apply_window,
    default_window,
    display_from_array,
    levels_to_window,
    modality_values,
    percentile_window,
    window_to_levels,
)

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
    "parse_view",
    "percentile_window",
    "read_dataset",
    "read_header",
    "window_to_levels",
]


class DicomError(ValueError):
    """A file that cannot be read as a DICOM image; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# Fastest first, measured on this machine (see benchmarks/dicom_decode.py). pydicom's default for JPEG Baseline is
# pylibjpeg (18–32 ms per 1024² film); Pillow does it in 5–8 ms. A plugin that fails falls through to the next.
DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {
    JPEGBaseline8Bit: ("pillow", "pylibjpeg", "gdcm"),
    JPEGExtended12Bit: ("pylibjpeg", "pillow", "gdcm"),  # Pillow has no 12-bit JPEG
    JPEGLossless: ("pylibjpeg", "gdcm"),
    JPEGLosslessSV1: ("pylibjpeg", "gdcm"),
    JPEGLSLossless: ("pyjpegls", "pylibjpeg", "gdcm"),
    JPEGLSNearLossless: ("pyjpegls", "pylibjpeg", "gdcm"),
    JPEG2000Lossless: ("pylibjpeg", "pillow", "gdcm"),
    JPEG2000: ("pylibjpeg", "pillow", "gdcm"),
    RLELossless: ("pylibjpeg", "pydicom"),
}

# The tags `read_header` needs; reading only these keeps a folder scan above 1,000 files/s.
HEADER_TAGS: list[str] = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientAge",
    "PatientSex",
    "ViewPosition",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "Rows",
    "Columns",
    "BitsStored",
    "PhotometricInterpretation",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "NumberOfFrames",
]

# SOP classes that carry no viewable image (PS3.4 B.5): reports, plans, structures, waveforms, states, documents.
_NON_IMAGE_PREFIXES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms (ECG, audio, ...)
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA/STL
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT structure set
    "1.2.840.10008.5.1.4.1.1.481.4",  # RT beams treatment record
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT plan
    "1.2.840.10008.5.1.4.1.1.481.6",  # RT brachy record
    "1.2.840.10008.5.1.4.1.1.481.7",  # RT summary record
    "1.2.840.10008.5.1.4.1.1.481.8",  # RT ion plan
    "1.2.840.10008.5.1.4.1.1.481.9",  # RT ion record
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registrations, segmentation (a mask, not an image), fiducials
    "1.2.840.10008.5.1.4.1.1.67",  # real world value mapping
    "1.2.840.10008.1.3.10",  # media storage directory (DICOMDIR)
)

# Never swallowed: these are the user or the interpreter stopping us, not a bad file.
_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit)

_PIXEL_TAGS_LE = {b"\xe0\x7f\x10\x00", b"\xe0\x7f\x08\x00", b"\xe0\x7f\x09\x00"}
_PIXEL_TAGS_BE = {b"\x7f\xe0\x00\x10", b"\x7f\xe0\x00\x08", b"\x7f\xe0\x00\x09"}
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"}


# ------------------------------------------------------------------------------------------------------------------
# Header fields


_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([YMWD]?)\s*$", re.IGNORECASE)
_VIEW_RE = re.compile(r"view\s*[:=]\s*([A-Za-z]+)", re.IGNORECASE)


def parse_age(value: object) -> int | None:
    """PatientAge ('038Y', '38', '006M', '002W', '010D') → whole years; None when absent or nonsense."""
    if value is None:
        return None
    match = _AGE_RE.match(str(value))
    if not match:
        return None
    n, unit = int(match.group(1)), (match.group(2) or "Y").upper()
    years = {"Y": n, "M": n // 12, "W": n // 52, "D": n // 365}[unit]
    return years if 0 <= years <= 150 else None


def parse_sex(value: object) -> str | None:
    """PatientSex → 'M', 'F', 'O' or None."""
    text = str(value or "").strip().upper()
    return text[:1] if text[:1] in ("M", "F", "O") else None


def parse_view(view_position: object, series_description: object = None) -> str | None:
    """ViewPosition, else SIIM's SeriesDescription `view: PA`; upper-case, None when neither says."""
    text = str(view_position or "").strip().upper()
    if text:
        return text
    match = _VIEW_RE.search(str(series_description or ""))
    return match.group(1).upper() if match else None


@lru_cache(maxsize=1)
def _patient_salt() -> bytes:
    """A per-installation random salt, so patient keys cannot be matched against other installations' keys.

    Where the user data folder is not writable, a salt derived from this machine and user is used instead (stable
    across runs, so patient keys and the folder-index cache stay consistent)."""
    path = user_data_dir() / "patient-key-salt"
    with contextlib.suppress(OSError):
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    salt = secrets.token_bytes(32)
    try:
        from pneumoviewer.io.atomic import atomic_write_bytes

        atomic_write_bytes(path, salt)
        return salt
    except OSError:
        import platform

        return hashlib.sha256(f"pneumoviewer|{platform.node()}|{path}".encode()).digest()


def patient_key(patient_id: object) -> str | None:
    """A salted, truncated hash of PatientID for patient-level data splits; the raw ID is never kept."""
    text = str(patient_id or "").strip()
    if not text:
        return None
    return hashlib.sha256(_patient_salt() + text.encode("utf-8", "replace")).hexdigest()[:20]


def _str(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _int(value: object, default: int = 0) -> int:
    try:
        if value is None or value == "":
            return default
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        try:
            return int(float(value))  # type: ignore[arg-type]  # IS written as '1.0'
        except (TypeError, ValueError, OverflowError):
            return default


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = _get(ds, keyword)
        try:
            if value is not None and len(value) >= 2:
                row, col = float(value[0]), float(value[1])
                if row > 0 and col > 0 and math.isfinite(row) and math.isfinite(col):
                    return (row, col)
        except (TypeError, ValueError):
            continue
    return None


def _non_image_reason(sop_class: str | None) -> str | None:
    if not sop_class:
        return None
    for prefix in _NON_IMAGE_PREFIXES:
        if sop_class == prefix.rstrip(".") or sop_class.startswith(prefix):
            return f"not an image ({UID(sop_class).name}): nothing to display"
    return None


_US_TAGS = {"Rows": 0x00280010, "Columns": 0x00280011, "BitsStored": 0x00280101}


def _get(ds: Dataset, keyword: str) -> object:
    """A header value, parsing the raw bytes of the few tags we read directly (pydicom's per-value conversion and
    validation cost half of a folder scan); falls back to pydicom for anything unusual."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement

    tag = _US_TAGS.get(keyword) or tag_for_keyword(keyword)
    elem = ds.get_item(tag) if tag is not None else None
    if elem is None:
        return None
    if not isinstance(elem, RawDataElement) or elem.VR not in (None, "US", "UI", "CS", "AS", "IS", "DS", "LO", "SH"):
        return ds.get(keyword)
    raw = elem.value
    if raw is None:
        return None
    if keyword in _US_TAGS:
        if len(raw) < 2:
            return None
        return int.from_bytes(raw[:2], "little" if elem.is_little_endian else "big")
    text = raw.decode("latin-1").strip(" \x00")
    if keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        return [part.strip() for part in text.split("\\")]
    return text.split("\\")[0].strip() if "\\" in text else text


def meta_from_dataset(ds: Dataset, path: str | os.PathLike[str] = "") -> ImageMeta:
    """ImageMeta from a dataset's tags (header-only or full). Raises DicomError when it is not an image."""
    sop_class = _str(_get(ds, "SOPClassUID"))
    reason = _non_image_reason(sop_class)
    if reason:
        raise DicomError(path, reason)
    file_meta = getattr(ds, "file_meta", None)
    image_id = _str(_get(ds, "SOPInstanceUID"))
    if not image_id and file_meta is not None:
        image_id = _str(file_meta.get("MediaStorageSOPInstanceUID"))
    if not image_id:
        raise DicomError(path, "no SOPInstanceUID: the image has no identity")
    rows, cols = _int(_get(ds, "Rows")), _int(_get(ds, "Columns"))
    if rows <= 0 or cols <= 0:
        raise DicomError(path, "no pixel data (no Rows/Columns)")
    transfer = _str(file_meta.get("TransferSyntaxUID")) if file_meta else None
    return ImageMeta(
        image_id=image_id,
        study_uid=_str(_get(ds, "StudyInstanceUID")),
        series_uid=_str(_get(ds, "SeriesInstanceUID")),
        patient_age=parse_age(_get(ds, "PatientAge")),
        patient_sex=parse_sex(_get(ds, "PatientSex")),
        view_position=parse_view(_get(ds, "ViewPosition"), _get(ds, "SeriesDescription")),
        modality=_str(_get(ds, "Modality")),
        body_part=_str(_get(ds, "BodyPartExamined")),
        rows=rows,
        columns=cols,
        bits_stored=_int(_get(ds, "BitsStored")),
        photometric=_str(_get(ds, "PhotometricInterpretation")),
        pixel_spacing=_spacing(ds),
        transfer_syntax=transfer,
        n_frames=max(1, _int(_get(ds, "NumberOfFrames"), 1)),
        patient_key=patient_key(_get(ds, "PatientID")),
    )


# ------------------------------------------------------------------------------------------------------------------
# Reading


def _short(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line for an error message (pydicom can quote kilobytes of garbage)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pydicom's warnings about odd values (a bad file is judged by what we can read, and reported as a
    DicomError). Only on the main thread: `warnings.catch_warnings` swaps process-wide state and is not safe
    across threads, so worker threads (the GUI's loaders) leave warnings as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A DICOM stream without preamble/meta still starts with a low group tag (0002/0008, either byte order)."""
    return head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08") and len(head) >= 8


def _dcmread(fh: BinaryIO, path: Path, *, header_only: bool) -> Dataset:
    kwargs: dict[str, object] = {"stop_before_pixels": True, "specific_tags": HEADER_TAGS} if header_only else {}
    with _quiet():
        try:
            ds = pydicom.dcmread(fh, **kwargs)  # type: ignore[arg-type]
        except InvalidDicomError:
            fh.seek(0)
            if not _looks_like_raw_dataset(fh.read(8)):
                raise DicomError(path, "not a DICOM file") from None
            fh.seek(0)
            try:
                ds = pydicom.dcmread(fh, force=True, **kwargs)  # type: ignore[arg-type]
            except Exception as exc:
                raise DicomError(path, f"not a DICOM file ({_short(exc)})") from None
            _guess_transfer_syntax(ds)
    return ds


def _guess_transfer_syntax(ds: Dataset) -> None:
    """A file without meta information: record the encoding pydicom detected so pixel decoding can proceed."""
    from pydicom.dataset import FileMetaDataset

    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        if little is False:
            from pydicom.uid import ExplicitVRBigEndian

            ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        else:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def _check_pixel_element(fh: BinaryIO, path: Path, transfer: str | None) -> None:
    """After a header read stopped before the pixels: is there a pixel data element, and is it all there?"""
    if transfer == DeflatedExplicitVRLittleEndian:
        return  # the rest of the file is a deflate stream; the full read will tell
    start = fh.tell()
    head = fh.read(12)
    if len(head) < 8 or not (head[:4] in _PIXEL_TAGS_LE or head[:4] in _PIXEL_TAGS_BE):
        raise DicomError(path, "no pixel data")
    big = head[:4] in _PIXEL_TAGS_BE
    if head[4:6] in _LONG_VRS and len(head) == 12:
        header_len, length = 12, int.from_bytes(head[8:12], "big" if big else "little")
    else:
        header_len, length = 8, int.from_bytes(head[4:8], "big" if big else "little")
    if length == 0xFFFFFFFF:
        return  # encapsulated: fragment sizes are checked when decoding
    size = os.fstat(fh.fileno()).st_size if hasattr(fh, "fileno") else None
    if size is not None and start + header_len + length > size:
        held = size - start - header_len
        raise DicomError(path, f"truncated: pixel data needs {length} bytes, the file holds {held}")


@contextlib.contextmanager
def _read_errors(p: Path, damaged: str) -> Iterator[None]:
    """Turn every failure while reading `p` into a DicomError: OS errors as 'cannot read', any parser failure on a
    damaged file as `damaged` (a bad file is a bad-file error, never a crash); Ctrl+C and exit pass through."""
    try:
        yield
    except DicomError:
        raise
    except OSError as exc:
        raise DicomError(p, f"cannot read: {exc.strerror or exc}") from None
    except _FATAL:
        raise
    except BaseException as exc:
        raise DicomError(p, f"{damaged} ({_short(exc)})") from None


def read_header(path: str | os.PathLike[str]) -> ImageMeta:
    """The header facts of one image file, without reading or decoding pixel data (fast: folder scans use it)."""
    p = Path(path)
    with _read_errors(p, "damaged or unreadable header"), _quiet(), open(p, "rb") as fh:
        ds = _dcmread(fh, p, header_only=True)
        meta = meta_from_dataset(ds, p)
        _check_pixel_element(fh, p, meta.transfer_syntax)
        return meta


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """The full dataset (pixel data still encoded); DicomError when the file is not DICOM or is unreadable."""
    p = Path(path)
    with _read_errors(p, "damaged or truncated file"), open(p, "rb") as fh:
        return _dcmread(fh, p, header_only=False)


@lru_cache(maxsize=64)
def _available_plugins(transfer_syntax: str) -> tuple[tuple[str, ...], str]:
    """(plugins to try in order, why none) for a transfer syntax."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(UID(transfer_syntax))
    except NotImplementedError:
        return (), f"unsupported transfer syntax {UID(transfer_syntax).name}"
    if decoder.is_native:
        return ("",), ""
    available = tuple(decoder.available_plugins)
    if not available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin"
        return (), f"no decoder installed for {UID(transfer_syntax).name} ({missing})"
    preferred = DECODER_PREFERENCE.get(transfer_syntax, ())
    ordered = tuple(p for p in preferred if p in available) + tuple(p for p in available if p not in preferred)
    return ordered, ""


def decode_frame(ds: Dataset, frame: int = 0, path: str | os.PathLike[str] = "") -> np.ndarray:
    """One decoded frame with the fastest working decoder for the transfer syntax (fallbacks on failure)."""
    from pydicom.pixels import pixel_array

    transfer = str(ds.file_meta.TransferSyntaxUID)
    plugins, why_not = _available_plugins(transfer)
    if not plugins:
        raise DicomError(path, why_not)
    errors: list[str] = []
    for plugin in plugins:
        try:
            with _quiet():
                arr = pixel_array(ds, index=frame, decoding_plugin=plugin)
            return arr
        except _FATAL:
            raise
        except BaseException as exc:  # Rust decoders (pylibjpeg-rle) panic with a BaseException on damaged data
            errors.append(f"{plugin or 'native'}: {_short(exc)}")
    raise DicomError(path, "cannot decode pixel data (" + " | ".join(errors)[:500] + ")")


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
