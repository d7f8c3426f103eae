"""Issue 11: hostile or broken input gets a clear error — never a hang, a crash or a memory blow-up."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

from pneumoviewer.core import privacy
from pneumoviewer.io.dicom import DicomError, load_image, read_header
from pneumoviewer.io.dicom.decode import MAX_PIXEL_BYTES
from pneumoviewer.io.dicom.deidentify import normalised_age
from pneumoviewer.io.dicom.write import build_dataset, dataset_bytes, write_dicom
from pneumoviewer.io.folder import scan_folder
from pneumoviewer.phantom import write_siim_like


def _in_thread(fn, timeout: float = 20.0):
    """Run `fn` in a thread; (finished, result or exception). A hang shows as finished=False, not a stuck test."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["value"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive(), box.get("value")


def test_a_fifo_is_refused_not_read(tmp_path):
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    finished, result = _in_thread(lambda: read_header(fifo), timeout=10)
    if not finished:  # unblock the reader so the test process can exit
        with open(fifo, "wb"):
            pass
    assert finished, "read_header blocked on a FIFO"
    assert isinstance(result, DicomError) and "not a regular file" in result.reason
    finished, index = _in_thread(lambda: scan_folder(fifo), timeout=10)
    assert finished and not index.images and "not a regular file" in index.failures[0].reason


def test_info_on_a_fifo_returns(tmp_path, capsys):
    from pneumoviewer.cli import main

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    finished, code = _in_thread(lambda: main(["info", str(fifo)]), timeout=10)
    if not finished:
        with open(fifo, "wb"):
            pass
    assert finished and code == 1 and "not a regular file" in capsys.readouterr().err


def test_a_folder_nested_deeper_than_the_recursion_limit_is_scanned(tmp_path):
    depth = 1100
    deep = str(tmp_path)
    for _ in range(depth):  # one level at a time: pathlib's own mkdir(parents=True) recurses
        deep += "/d"
        os.mkdir(deep)
    write_siim_like(Path(deep) / "x.dcm", size=16)
    try:
        finished, index = _in_thread(lambda: scan_folder(tmp_path, use_cache=False), timeout=60)
        assert finished and not isinstance(index, BaseException), index
        assert len(index.images) == 1
    finally:
        os.unlink(deep + "/x.dcm")
        for _ in range(depth):  # and down again (shutil.rmtree recurses too)
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_a_newline_in_the_transfer_syntax_stays_on_one_line(tmp_path):
    path = write_dicom(tmp_path / "x.dcm", np.zeros((8, 8), np.uint8))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.3\n\x1b[31mInjected"
    ds.save_as(path, enforce_file_format=False)
    with pytest.raises(DicomError) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    quoted = DicomError(path, f"unsupported transfer syntax {ds.file_meta.TransferSyntaxUID}")  # what gets echoed
    assert "\n" not in str(quoted) and "\x1b" not in quoted.reason and "1.2.3\\x0a\\x1b[31mInjected" in quoted.reason


def _refused_with_peak(fn):
    """(the DicomError `fn` raised, peak bytes Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        with pytest.raises(DicomError) as info:
            fn()
        return info, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_huge_rows_columns_are_refused_before_decoding(tmp_path):
    """An ~800-byte RLE file that claims 65535 x 65535 x 16 bit: refused, nothing allocated."""
    path = write_dicom(tmp_path / "rle.dcm", np.zeros((8, 8), np.uint16), transfer_syntax=RLELossless)
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 65535
    ds.save_as(path, enforce_file_format=True)
    assert path.stat().st_size < 2000
    info, peak = _refused_with_peak(lambda: load_image(path))
    assert "too large" in info.value.reason and "GiB" in info.value.reason
    assert peak < 64 * 2**20
    assert MAX_PIXEL_BYTES < 65535 * 65535 * 2


def test_a_jpeg_frame_header_larger_than_the_image_is_refused(tmp_path):
    """A tiny JPEG whose SOF claims 60000 x 60000: no decoder (and no fallback decoder) gets to allocate it."""
    path = write_siim_like(tmp_path / "j.dcm", size=32)
    raw = bytearray(path.read_bytes())
    sof = raw.find(b"\xff\xc0")
    assert sof > 0
    raw[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2
    path.write_bytes(bytes(raw))
    info, peak = _refused_with_peak(lambda: load_image(path))
    assert "60000x60000" in info.value.reason and "32x32" in info.value.reason
    assert peak < 64 * 2**20


def _deflate_bomb(tmp_path, mib: int) -> Path:
    """A small Deflated file whose dataset inflates to `mib` MiB (a huge private element before the pixels)."""
    ds = build_dataset(np.zeros((8, 8), np.uint8))
    ds.add_new(0x00091010, "OB", b"\0" * (mib * 2**20))
    body = dataset_bytes(ds)
    meta_end = 132 + 12 + int.from_bytes(body[140:144], "little")  # preamble, DICM, group length element, group
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    path = tmp_path / "bomb.dcm"
    path.write_bytes(dataset_bytes(_meta_only(ds)) + comp.compress(body[meta_end:]) + comp.flush())
    assert path.stat().st_size < 2 * 2**20
    return path


def test_a_deflate_bomb_is_read_with_a_bounded_inflater(tmp_path):
    """A ~200 KB Deflated file that inflates to 200 MB: the headers-only read stays bounded."""
    path = _deflate_bomb(tmp_path, 200)
    tracemalloc.start()
    try:
        with contextlib.suppress(DicomError):  # refusing is fine; allocating 200 MB is not
            read_header(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80 * 2**20, peak


def _meta_only(ds):
    from pydicom.dataset import Dataset

    out = Dataset()
    out.file_meta = ds.file_meta
    return out


def test_bundled_deflated_file_still_reads():
    from pydicom.data import get_testdata_file

    meta = read_header(get_testdata_file("image_dfl.dcm"))
    assert meta.rows > 0 and meta.header_digest
    assert load_image(get_testdata_file("image_dfl.dcm")).display.shape == (meta.rows, meta.columns)


def test_salt_file_is_owner_only(tmp_path):
    privacy.patient_salt.cache_clear()
    try:
        key = privacy.patient_key("1234567")
        salt = Path(os.environ["PNEUMOVIEWER_DATA"]) / privacy.SALT_FILE_NAME
        assert key and stat.S_IMODE(salt.stat().st_mode) == 0o600
        os.chmod(salt, 0o644)  # an older installation's world-readable salt is tightened on first use
        privacy.patient_salt.cache_clear()
        assert privacy.patient_key("1234567") == key
        assert stat.S_IMODE(salt.stat().st_mode) == 0o600
    finally:
        privacy.patient_salt.cache_clear()


@pytest.mark.parametrize(("given", "written"), [("38", "038Y"), ("038Y", "038Y"), ("006M", "006M"),
                                                ("95Y", "090Y"), ("abc", ""), ("", ""), ("3 8", "")])
def test_patient_age_is_normalised_to_the_as_form(given, written):
    assert normalised_age(given) == written


def test_the_index_notices_a_file_replaced_with_size_and_mtime_kept(tmp_path):
    """Issue 11: `cp -p` of another image over an indexed one: the next (cached) scan shows the new image."""
    def image(path, n, patient):
        uids = {"SOPInstanceUID": f"1.2.3.{n}", "StudyInstanceUID": f"1.2.4.{n}", "SeriesInstanceUID": f"1.2.5.{n}"}
        return write_dicom(path, np.zeros((16, 16), np.uint8), attrs={"PatientID": patient, **uids})

    a = image(tmp_path / "s" / "a.dcm", 1, "AAAA")
    b = image(tmp_path / "o" / "b.dcm", 2, "BBBB")
    assert a.stat().st_size == b.stat().st_size
    first = scan_folder(tmp_path / "s")
    old_uid = first.images[0].image_id
    st = a.stat()
    shutil.copyfile(b, a)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (a.stat().st_size, a.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = scan_folder(tmp_path / "s")
    assert [img.image_id for img in again.images] == [read_header(b).image_id] != [old_uid]
    assert again.images[0].meta.header_digest == read_header(b).header_digest != first.images[0].meta.header_digest


def test_a_deflate_bomb_is_refused_by_a_full_read_without_inflating_it(tmp_path):
    """The same bomb through load_image: refused once the inflated header outgrows its bound."""
    path = _deflate_bomb(tmp_path, 200)
    info, peak = _refused_with_peak(lambda: load_image(path))
    assert "deflated data: refused" in info.value.reason
    assert peak < 80 * 2**20, peak


def test_a_16_bit_deflated_image_reads_whole(tmp_path):
    pixels = (np.arange(64 * 48, dtype=np.uint16).reshape(64, 48) * 7) % 4096
    path = tmp_path / "d16.dcm"
    ds = build_dataset(pixels, bits_stored=12)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    assert np.array_equal(load_image(path).pixels, pixels)
    assert read_header(path).header_digest


def test_no_fallback_decoder_after_pillow_refuses_for_size(tmp_path):
    """Rows × Columns and the JPEG frame agree on 20000 x 20000 (400 MB, under the cap): Pillow's bomb guard refuses,
    and no other decoder is tried (pylibjpeg would decode the 400 MB, for minutes)."""
    path = write_siim_like(tmp_path / "j.dcm", size=32)
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 20000
    ds.save_as(path, enforce_file_format=True)
    raw = bytearray(path.read_bytes())
    sof = raw.find(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2
    path.write_bytes(bytes(raw))
    info, peak = _refused_with_peak(lambda: load_image(path))
    assert "too large to decode" in info.value.reason and "pillow" in info.value.reason
    assert "pylibjpeg" not in info.value.reason
    assert peak < 600 * 2**20  # pydicom's 400 MB output buffer (under the cap), never a second decoder's
