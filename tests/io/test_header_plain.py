"""The fast header reader (`header._PlainReader`) answers exactly as the pydicom path does, or leaves the file to it.

Every comparison includes the fields ImageMeta leaves out of `==` (patient key, header digest): the digest is the
file's identity in the review store, so the two readers must hash the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from pneumoviewer.io.dicom import DicomError, header, read_header
from pneumoviewer.io.dicom.write import build_dataset, write_dicom
from pneumoviewer.phantom import write_siim_like


def _outcome(path: Path, plain: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    """What `read_header` says, through the plain reader (when it answers) or through pydicom only."""
    with monkeypatch.context() as m:
        if not plain:
            m.setattr(header, "_read_header_plain", lambda fh, p: None)
        try:
            meta = read_header(path)
        except DicomError as exc:
            return ("error", exc.reason)
    return ("meta", meta, meta.patient_key, meta.header_digest)


def _answers(path: Path) -> bool:
    """Did the plain reader answer (an ImageMeta or a DicomError) rather than hand the file to pydicom?"""
    with open(path, "rb") as fh:
        try:
            return header._read_header_plain(fh, path) is not None
        except DicomError:
            return True


def _same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _outcome(path, True, monkeypatch) == _outcome(path, False, monkeypatch), path.name


# every file pydicom ships (no download: the folder of its bundled test files)
PYDICOM_FILES = sorted(p for p in Path(get_testdata_file("CT_small.dcm", download=False)).parent.rglob("*")
                       if p.is_file())


def test_every_pydicom_test_file_reads_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = []
    for path in PYDICOM_FILES:
        _same(path, monkeypatch)
        answered.append(_answers(path))
    # the plain reader is not a no-op: it answers most (every little-endian file with a file meta, no VR guessing)
    plain = {p.name for p, a in zip(PYDICOM_FILES, answered, strict=True) if a}
    assert len({p.name for p in PYDICOM_FILES if p.suffix == ".dcm"} & plain) >= 60, len(plain)
    assert {"CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "MR_truncated.dcm",
            "examples_ybr_color.dcm", "test-SR.dcm", "rtplan.dcm"} <= plain
    assert not {"MR_small_bigendian.dcm", "image_dfl.dcm", "no_meta.dcm"} & plain  # big endian, deflate: pydicom


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEGLSLossless,
                                    JPEG2000Lossless, JPEGBaseline8Bit])
@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_our_files_read_alike_in_every_syntax(tmp_path: Path, syntax: str, photometric: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = (np.arange(96 * 64, dtype=np.uint16).reshape(96, 64) * 3) % 256  # non-square
    bits = 8 if syntax == JPEGBaseline8Bit else 12
    attrs = {"PatientID": "P-1", "PatientAge": "061Y", "PatientSex": "F", "PixelSpacing": ["0.5", "0.25"],
             "ViewPosition": "AP", "SeriesDescription": "view: PA"}
    path = write_dicom(tmp_path / "x.dcm", pixels.astype(np.uint8 if bits == 8 else np.uint16),
                       transfer_syntax=ExplicitVRLittleEndian if syntax == ImplicitVRLittleEndian else syntax,
                       photometric=photometric, bits_stored=bits, attrs=attrs)
    if syntax == ImplicitVRLittleEndian:
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(path, enforce_file_format=True)
    assert _answers(path)
    _same(path, monkeypatch)
    meta = read_header(path)
    assert (meta.rows, meta.columns, meta.photometric, meta.transfer_syntax) == (96, 64, photometric, syntax)
    assert meta.pixel_spacing == (0.5, 0.25) and meta.patient_age == 61 and meta.view_position == "AP"


def test_siim_phantoms_read_alike(phantom_dataset_readonly, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted(phantom_dataset_readonly.dicom_dir.rglob("*.dcm"))
    assert len(paths) == 12
    for path in paths:
        assert _answers(path)
        _same(path, monkeypatch)
        assert read_header(path).synthetic_phantom
    for k, age in enumerate(["38", "006M", ""]):  # SIIM writes ages without the unit
        path = write_siim_like(tmp_path / f"{k}.dcm", size=32, seed=k, attrs={"PatientAge": age})
        assert _answers(path)
        _same(path, monkeypatch)


def _with_sequences(path: Path, undefined: bool, implicit: bool = False) -> Path:
    """A file whose header holds nested sequences (defined or undefined lengths) and a private one, in explicit
    or implicit VR."""
    ds = build_dataset(np.zeros((8, 6), np.uint8), attrs={"PatientID": "P-2"})
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "T-D3000", "SRT", "Chest"
    outer = Dataset()
    outer.AnatomicRegionSequence = Sequence([inner])
    outer.ReferencedSOPInstanceUID = "1.2.3.4"
    ds.ReferencedImageSequence = Sequence([outer, Dataset()])
    ds.add_new(0x00091010, "SQ", Sequence([inner]))
    ds.private_block(0x0009, "PV TEST", create=True)
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = undefined
            for item in elem.value:
                item.is_undefined_length_sequence_item = undefined
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("undefined", [False, True])
@pytest.mark.parametrize("implicit", [False, True])
def test_sequences_are_walked_to_their_end(tmp_path: Path, undefined: bool, implicit: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_sequences(tmp_path / "sq.dcm", undefined, implicit)
    assert (b"\xfe\xff\xdd\xe0" in path.read_bytes()) == undefined  # sequence delimiters: undefined lengths
    if implicit:
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert _answers(path)
    _same(path, monkeypatch)
    assert read_header(path).rows == 8


def test_damaged_files_read_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cuts and flips all through a header with sequences: same meta or the same reason, every time."""
    data = _with_sequences(tmp_path / "sq.dcm", undefined=True).read_bytes()
    end = data.index(b"\xe0\x7f\x10\x00")  # the header's bytes
    path = tmp_path / "damaged.dcm"
    for cut in range(128, end + 20, 3):
        path.write_bytes(data[:cut])
        _same(path, monkeypatch)
    rng = np.random.default_rng(5)
    for at in rng.integers(128, end, size=150):
        flipped = bytearray(data)
        flipped[at] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(flipped))
        _same(path, monkeypatch)
