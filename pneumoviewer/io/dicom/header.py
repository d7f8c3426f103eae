"""DICOM headers: the facts of one image file (`read_header`) without its pixels, and the full dataset
(`read_dataset`, pixel data still encoded).

Every failure with a bad file raises `DicomError` (a `ValueError`) naming the file and the reason; no other
exception type escapes for bad input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from pneumoviewer.core.privacy import patient_key
from pneumoviewer.core.text import printable
from pneumoviewer.core.types import ImageMeta


class DicomError(ValueError):
    """A file that cannot be read as a DICOM image; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = printable(reason)  # a value quoted from the file never breaks the line or drives a terminal
        super().__init__(f"{printable(str(self.path))}: {self.reason}")


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
    "ManufacturerModelName",
]

#: ManufacturerModelName of every file our phantom generator writes: a phantom-trained model's output means
#: something only on these (pneumoviewer.inference.domain).
PHANTOM_MODEL_NAME = "PneumoViewer synthetic phantom"

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
        synthetic_phantom=_str(_get(ds, "ManufacturerModelName")) == PHANTOM_MODEL_NAME,
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


#: A Deflated file's header is inflated into at most this many bytes (a header is a few KB; a deflate bomb of 1 MB
#: would otherwise inflate to gigabytes during a headers-only folder scan).
DEFLATED_HEADER_LIMIT = 16 * 1024 * 1024
_DEFLATED_UID = DeflatedExplicitVRLittleEndian.encode()


def _dcmread(fh: BinaryIO, path: Path, *, header_only: bool) -> tuple[Dataset, str]:
    """(dataset, header digest): the digest is a SHA-256 of the bytes before the pixel data (the preamble, file
    meta and every header element), so a file replaced by another image is noticed even when its size and mtime
    were kept."""
    kwargs: dict[str, object] = {"stop_before_pixels": True, "specific_tags": HEADER_TAGS} if header_only else {}
    head = fh.read(4096)
    fh.seek(0)
    with _quiet():
        if _DEFLATED_UID in head:
            result = _read_deflated(fh, path, header_only)
            if result is not None:
                return result
            fh.seek(0)
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
    return ds, _digest_before(fh, header_only)


def _digest_before(fh: BinaryIO, header_only: bool) -> str:
    """SHA-256 (first 32 hex digits) of the file up to where a headers-only read stopped (the pixel data)."""
    if not header_only:
        return ""
    end = fh.tell()
    fh.seek(0)
    digest = hashlib.sha256(fh.read(end)).hexdigest()[:32]
    fh.seek(end)
    return digest


def _read_deflated(fh: BinaryIO, path: Path, header_only: bool) -> tuple[Dataset, str] | None:
    """A Deflated Explicit VR Little Endian file read with a bounded inflater: at most `DEFLATED_HEADER_LIMIT`
    inflated bytes for the header; for the whole file, only as many more as its Rows × Columns × Frames × Samples ×
    bytes say the pixels need (within `decode.MAX_PIXEL_BYTES`): a deflate bomb is refused, never inflated. None
    when the file turns out not to be deflated (the ordinary reader takes over)."""
    import zlib

    from pydicom.dataset import FileDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import _at_pixel_data, _read_file_meta_info, read_dataset, read_preamble
    from pydicom.tag import Tag

    from pneumoviewer.io.dicom.decode import MAX_PIXEL_BYTES, check_size

    try:
        preamble = read_preamble(fh, False)
        file_meta = _read_file_meta_info(fh)
    except InvalidDicomError:
        return None
    if file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return None
    meta_end = fh.tell()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    chunks: list[bytes] = []
    size = 0

    def inflate_to(limit: int) -> None:
        """Inflate until `limit` + 1 bytes are out (one more than allowed shows the stream is longer) or the end."""
        nonlocal size
        data = inflater.unconsumed_tail
        while size <= limit:
            if not data:
                data = fh.read(1 << 20)
                if not data:
                    return
            out = inflater.decompress(data, limit + 1 - size)
            chunks.append(out)
            size += len(out)
            data = inflater.unconsumed_tail

    def parse(limit: int, stop: object, tags: list[Tag] | None) -> tuple[Dataset, int]:
        data = b"".join(chunks)[:limit]
        buffer = DicomBytesIO(data)
        buffer.name = str(path)
        ds = read_dataset(buffer, False, True, stop_when=stop, specific_tags=tags)
        end = buffer.tell()
        if stop is not None and data[end : end + 4] not in _PIXEL_TAGS_LE:
            raise DicomError(path, f"no pixel data within the first {limit // 2**20} MiB of deflated data: refused")
        return ds, end

    inflate_to(DEFLATED_HEADER_LIMIT)
    header_tags = [Tag(k) for k in ("SpecificCharacterSet", *HEADER_TAGS)] if header_only else None
    head, head_end = parse(DEFLATED_HEADER_LIMIT, _at_pixel_data, header_tags)
    if header_only:
        ds = head
        fh.seek(0)
        digest = hashlib.sha256(fh.read(meta_end) + b"".join(chunks)[:head_end]).hexdigest()[:32]
    else:
        head.file_meta = file_meta
        check_size(head, 0, path)  # Rows × Columns × ... within the cap, before the pixels are inflated
        need = head_end + 12 + _pixel_bytes(head) + 65536  # pixel element header, pixels, trailing elements
        inflate_to(min(need, MAX_PIXEL_BYTES + DEFLATED_HEADER_LIMIT))
        if size > need:
            raise DicomError(path, f"deflated data inflates to more than the {need} bytes its header accounts "
                                   "for: refused")
        ds, _ = parse(need, None, None)
        digest = ""
    out_ds = FileDataset(str(path), ds, preamble, file_meta, False, True)
    out_ds.set_original_encoding(False, True, ds._character_set)
    return out_ds, digest


def _pixel_bytes(ds: Dataset) -> int:
    """Bytes of native pixel data the header describes (Rows × Columns × Frames × Samples × bytes per sample)."""
    return (_int(ds.get("Rows")) * _int(ds.get("Columns")) * max(1, _int(ds.get("NumberOfFrames"), 1))
            * max(1, _int(ds.get("SamplesPerPixel"), 1)) * max(1, (_int(ds.get("BitsAllocated"), 8) + 7) // 8))


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


def _open_regular(p: Path) -> BinaryIO:
    """`p` opened for reading, refused unless it is a regular file: opening a FIFO or a device would block or read
    forever (O_NONBLOCK makes the open itself return at once; the check is on the opened file, so no race)."""
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DicomError(p, "cannot read: a folder, not a file" if stat.S_ISDIR(mode) else "not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_header(path: str | os.PathLike[str]) -> ImageMeta:
    """The header facts of one image file, without reading or decoding pixel data (fast: folder scans use it).

    `ImageMeta.header_digest` fingerprints the header bytes, so a changed file is noticed even when its size and
    mtime were kept."""
    p = Path(path)
    with _read_errors(p, "damaged or unreadable header"), _quiet(), _open_regular(p) as fh:
        ds, digest = _dcmread(fh, p, header_only=True)
        meta = meta_from_dataset(ds, p)
        _check_pixel_element(fh, p, meta.transfer_syntax)
        return dataclasses.replace(meta, header_digest=digest)


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """The full dataset (pixel data still encoded); DicomError when the file is not DICOM or is unreadable."""
    p = Path(path)
    with _read_errors(p, "damaged or truncated file"), _open_regular(p) as fh:
        return _dcmread(fh, p, header_only=False)[0]
