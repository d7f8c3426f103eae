"""Fuzzing: damaged files (truncations, byte flips, spliced garbage) give DicomError or a valid image, nothing else;
the fast header reader and pydicom's path say the same of each."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless

from pneumoviewer.io.dicom import DicomError, header, load_image, read_header
from pneumoviewer.io.dicom.write import write_dicom
from pneumoviewer.phantom import write_siim_like


@functools.lru_cache(maxsize=1)
def _sources() -> dict[str, bytes]:
    """Three small real files: SIIM-like JPEG Baseline, 12-bit RLE, pydicom's CT (explicit VR, signed)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        return {
            "siim_jpeg": write_siim_like(folder / "siim.dcm", size=64, seed=2).read_bytes(),
            "rle_12bit": write_dicom(folder / "rle.dcm", (np.arange(48 * 32).reshape(48, 32) % 4096).astype(np.uint16),
                                     transfer_syntax=RLELossless, bits_stored=12).read_bytes(),
            "ct_small": Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes(),
        }


SOURCES = ("ct_small", "rle_12bit", "siim_jpeg")


def _header_both_ways(path: Path) -> None:
    """read_header through the plain reader and through pydicom only: the same meta (digest included) or reason."""
    outcomes: list[object] = []
    for plain in (header._read_header_plain, lambda fh, p: None):
        with mock.patch.object(header, "_read_header_plain", plain):
            try:
                meta = read_header(path)
                outcomes.append((meta, meta.patient_key, meta.header_digest))
            except DicomError as exc:
                outcomes.append(exc.reason)
    assert outcomes[0] == outcomes[1]


def _check(data: bytes, tmp: Path) -> None:
    path = tmp / "fuzzed.dcm"
    path.write_bytes(data)
    _header_both_ways(path)
    for fn in (read_header, load_image):
        try:
            result = fn(path)
        except DicomError as exc:
            assert str(path) in str(exc)
            assert 0 < len(exc.reason) < 800 and "\n" not in exc.reason  # one readable line
            continue
        if fn is load_image:
            assert result.display.dtype == np.float32
            assert result.display.ndim == 2
            finite = np.isfinite(result.display)
            assert finite.all()
            assert result.display.min() >= 0.0 and result.display.max() <= 1.0


_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("source", SOURCES)
@_SETTINGS
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_files(source: str, cut: float, tmp_path: Path) -> None:
    data = _sources()[source]
    _check(data[: int(len(data) * cut)], tmp_path)


@pytest.mark.parametrize("source", SOURCES)
@_SETTINGS
@given(flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_flips(source: str, flips: list[tuple[float, int]], tmp_path: Path) -> None:
    data = bytearray(_sources()[source])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check(bytes(data), tmp_path)


@pytest.mark.parametrize("source", SOURCES)
@_SETTINGS
@given(flips=st.lists(st.tuples(st.integers(128, 1600), st.integers(0, 255)), min_size=1, max_size=4))
def test_header_byte_flips(source: str, flips: list[tuple[int, int]], tmp_path: Path) -> None:
    data = bytearray(_sources()[source])
    for at, value in flips:
        data[at] = value
    path = tmp_path / "flipped.dcm"
    path.write_bytes(bytes(data))
    _header_both_ways(path)


@pytest.mark.parametrize("source", SOURCES)
@_SETTINGS
@given(where=st.floats(0.0, 0.3), junk=st.binary(min_size=1, max_size=64))
def test_header_splices(source: str, where: float, junk: bytes, tmp_path: Path) -> None:
    data = _sources()[source]
    at = int(len(data) * where)
    _check(data[:at] + junk + data[at + len(junk):], tmp_path)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check(b"\x00" * 128 + b"DICM" + data, Path(tmp))
        _check(data, Path(tmp))
