"""Decoding pixel data: the decoder choice per transfer syntax (`DECODER_PREFERENCE`) and `decode_frame`."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from pneumoviewer.io.dicom.header import _FATAL, DicomError, _int, _quiet, _short

#: The most decoded pixel bytes one image may hold (Rows × Columns × Frames × Samples × bytes per sample): 2 GiB.
#: A chest film is 2–50 MB; anything over the cap is refused before a byte is decoded.
MAX_PIXEL_BYTES = 2 * 1024**3

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


def check_size(ds: Dataset, frame: int = 0, path: str | os.PathLike[str] = "") -> None:
    """Refuse, before a byte is decoded, an image whose decoded pixels would exceed `MAX_PIXEL_BYTES`
    (Rows × Columns × Frames × Samples × bytes per sample), or a compressed frame whose own header (JPEG SOF,
    JPEG-LS SOF55, JPEG 2000 SIZ) declares another size than Rows × Columns: decoders allocate what the codestream
    says, so a 1 KB file could otherwise ask for gigabytes."""
    rows, cols = _int(ds.get("Rows")), _int(ds.get("Columns"))
    frames = max(1, _int(ds.get("NumberOfFrames"), 1))
    samples = max(1, _int(ds.get("SamplesPerPixel"), 1))
    per_sample = max(1, (_int(ds.get("BitsAllocated"), 8) + 7) // 8)
    total = rows * cols * frames * samples * per_sample
    if total > MAX_PIXEL_BYTES:
        raise DicomError(path, f"image too large to decode: {rows}x{cols}, {frames} frame(s), {samples} sample(s) of "
                               f"{per_sample} byte(s) = {total / 2**30:.1f} GiB (the cap is "
                               f"{MAX_PIXEL_BYTES / 2**30:.0f} GiB)")
    transfer = UID(str(ds.file_meta.TransferSyntaxUID))
    if not transfer.is_compressed or "PixelData" not in ds or not ds["PixelData"].is_undefined_length:
        return
    head = _frame_head(ds, frame, frames)
    declared = _codestream_size(head) if head else None
    if declared is not None and declared != (rows, cols):
        raise DicomError(path, f"the compressed frame declares {declared[0]}x{declared[1]} pixels but the header "
                               f"says {rows}x{cols}: refused")


def _frame_head(ds: Dataset, frame: int, frames: int) -> bytes | None:
    """The first bytes of one encapsulated frame (None when the fragments cannot be found)."""
    from pydicom.encaps import get_frame

    try:
        return bytes(get_frame(ds.PixelData, frame, number_of_frames=frames)[:65536])
    except _FATAL:
        raise
    except BaseException:
        return None  # damaged encapsulation: the decoder will say so


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}  # JPEG SOFn and JPEG-LS SOF55


def _codestream_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) that a JPEG, JPEG-LS or JPEG 2000 codestream declares; None when it cannot tell."""
    if data[:4] == b"\xff\x4f\xff\x51" and len(data) >= 24:  # JPEG 2000: SOC, SIZ
        xsiz, ysiz, xo, yo = (int.from_bytes(data[k : k + 4], "big") for k in (8, 12, 16, 20))
        return (ysiz - yo, xsiz - xo)
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            return (int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big"))
        if marker == 0xDA:  # scan data before any frame header
            return None
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def _refused_for_size(exc: BaseException) -> bool:
    """A decoder's own size guard (Pillow's decompression-bomb check) fired: never try the next decoder after it.

    pydicom re-raises a plugin's error as a RuntimeError carrying only its message, so the message is checked too."""
    try:
        from PIL import Image
    except ImportError:
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            return True
        if "decompression bomb" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def decode_frame(ds: Dataset, frame: int = 0, path: str | os.PathLike[str] = "") -> np.ndarray:
    """One decoded frame with the fastest working decoder for the transfer syntax (fallbacks on failure).

    The size is checked first (`check_size`); a decoder that refuses for size ends the attempt (the next decoder
    would allocate what the first one refused)."""
    import warnings

    from pydicom.pixels import pixel_array

    check_size(ds, frame, path)
    transfer = str(ds.file_meta.TransferSyntaxUID)
    plugins, why_not = _available_plugins(transfer)
    if not plugins:
        raise DicomError(path, why_not)
    errors: list[str] = []
    for plugin in plugins:
        try:
            with _quiet(), warnings.catch_warnings():
                from PIL import Image

                warnings.simplefilter("error", Image.DecompressionBombWarning)
                arr = pixel_array(ds, index=frame, decoding_plugin=plugin)
            return arr
        except _FATAL:
            raise
        except BaseException as exc:  # Rust decoders (pylibjpeg-rle) panic with a BaseException on damaged data
            if _refused_for_size(exc):
                raise DicomError(path, f"image too large to decode ({plugin}: {_short(exc)})") from None
            errors.append(f"{plugin or 'native'}: {_short(exc)}")
    raise DicomError(path, "cannot decode pixel data (" + " | ".join(errors)[:500] + ")")
