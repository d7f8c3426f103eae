"""pneumoviewer.io.dicom over pydicom's bundled reference files: every file either loads or raises DicomError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array

from pneumoviewer.core.types import ImageMeta
from pneumoviewer.io.dicom import DicomError, load_image, read_header


def _file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom test file {name} is missing"
    return Path(path)


# name -> (rows, columns, frames) for files that must load
LOADABLE = {
    "CT_small.dcm": (128, 128, 1),  # 16-bit signed, rescale intercept
    "MR_small.dcm": (64, 64, 1),  # window tags
    "MR_small_RLE.dcm": (64, 64, 1),
    "MR_small_bigendian.dcm": (64, 64, 1),
    "MR_small_implicit.dcm": (64, 64, 1),
    "MR_small_jp2klossless.dcm": (64, 64, 1),
    "MR_small_jpeg_ls_lossless.dcm": (64, 64, 1),
    "JPEG2000.dcm": (1024, 256, 1),  # non-square
    "JPGExtended.dcm": (1024, 256, 1),  # 12-bit JPEG extended
    "693_J2KI.dcm": (512, 512, 1),
    "JPEGLSNearLossless_08.dcm": (45, 10, 1),
    "JPEGLSNearLossless_16.dcm": (50, 10, 1),
    "examples_overlay.dcm": (300, 484, 1),
    "image_dfl.dcm": (512, 512, 1),  # deflated transfer syntax
    "rtdose.dcm": (10, 10, 15),  # 32-bit multi-frame
    "rtdose_rle.dcm": (10, 10, 15),
    "SC_rgb_jpeg.dcm": (256, 256, 1),  # colour: shown as luminance
    "SC_rgb_rle_2frame.dcm": (100, 100, 2),
    "examples_palette.dcm": (350, 800, 1),
    "examples_ybr_color.dcm": (240, 320, 30),  # multi-frame JPEG Baseline
}

# name -> fragment of the DicomError reason
BAD = {
    "test-SR.dcm": "not an image",
    "reportsi.dcm": "not an image",
    "rtplan.dcm": "not an image",
    "rtstruct.dcm": "not an image",
    "waveform_ecg.dcm": "not an image",
    "liver_1frame.dcm": "not an image",  # a DICOM SEG is a mask, not an image to review
    "MR_truncated.dcm": "truncated",
    "no_meta.dcm": "not a DICOM file",
    "UN_sequence.dcm": "no pixel data",
    "JPEG-lossy.dcm": "cannot decode",  # no installed decoder handles this damaged stream (gdcm would)
}


@pytest.mark.parametrize("name", sorted(LOADABLE))
def test_bundled_file_loads(name: str) -> None:
    path = _file(name)
    rows, cols, frames = LOADABLE[name]
    meta = read_header(path)
    assert isinstance(meta, ImageMeta)
    assert (meta.rows, meta.columns, meta.n_frames) == (rows, cols, frames)
    image = load_image(path)
    assert image.meta == meta
    assert image.display.dtype == np.float32
    assert image.display.shape == (rows, cols)
    assert np.isfinite(image.display).all()
    assert image.display.min() >= 0.0 and image.display.max() <= 1.0
    assert image.display.max() > image.display.min(), "display must not be flat for a real image"
    assert image.pixels.shape[:2] == (rows, cols)
    assert not image.pixels.flags.writeable  # the stored array is never mutated
    last = load_image(path, frame=frames - 1)
    assert last.frame == frames - 1


@pytest.mark.parametrize("name", sorted(BAD))
def test_bundled_bad_file_raises_dicom_error(name: str) -> None:
    path = _file(name)
    with pytest.raises(DicomError) as info:
        load_image(path)
    assert BAD[name] in info.value.reason
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["test-SR.dcm", "rtplan.dcm", "MR_truncated.dcm", "no_meta.dcm"])
def test_header_rejects_bad_files_too(name: str) -> None:
    with pytest.raises(DicomError) as info:
        read_header(_file(name))
    assert BAD[name] in info.value.reason


def test_every_bundled_file_loads_or_raises_dicom_error() -> None:
    folder = _file("CT_small.dcm").parent
    outcomes = {"ok": 0, "error": 0}
    for path in sorted(folder.glob("*.dcm")):
        try:
            load_image(path)
            read_header(path)
            outcomes["ok"] += 1
        except DicomError as exc:
            assert str(path) in str(exc)
            outcomes["error"] += 1
    assert outcomes["ok"] >= 40 and outcomes["error"] >= 10


REFERENCE = "MR_small.dcm"


@pytest.mark.parametrize(
    "name",
    ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_bigendian.dcm",
     "MR_small_implicit.dcm", "MR_small_expb.dcm"],
)
def test_lossless_decoders_agree_with_uncompressed_reference(name: str) -> None:
    ref = load_image(_file(REFERENCE))
    other = load_image(_file(name))
    diff = np.abs(other.pixels.astype(np.int64) - ref.pixels.astype(np.int64))
    assert diff.max() <= 1  # decoders may differ by one grey level; never assert byte-exact
    assert np.abs(other.display - ref.display).max() <= 1.5 / ref.window[1] + 1e-6
    assert other.window == ref.window


@pytest.mark.parametrize(
    ("name", "plugins"),
    [
        ("MR_small_RLE.dcm", ["pylibjpeg", "pydicom"]),
        ("MR_small_jpeg_ls_lossless.dcm", ["pyjpegls", "pylibjpeg"]),
        ("MR_small_jp2klossless.dcm", ["pylibjpeg", "pillow"]),
    ],
)
def test_each_installed_plugin_agrees_within_one_grey_level(name: str, plugins: list[str]) -> None:
    ref = pixel_array(pydicom.dcmread(_file(REFERENCE))).astype(np.int64)
    ours = load_image(_file(name)).pixels.astype(np.int64)
    assert np.abs(ours - ref).max() <= 1
    for plugin in plugins:
        arr = pixel_array(pydicom.dcmread(_file(name)), decoding_plugin=plugin).astype(np.int64)
        assert np.abs(arr - ref).max() <= 1, plugin


def test_window_tags_and_rescale_are_used() -> None:
    image = load_image(_file("MR_small.dcm"))
    ds = pydicom.dcmread(_file("MR_small.dcm"))
    assert image.window_source == "tags"
    assert image.window == (float(ds.WindowCenter), float(ds.WindowWidth))
    ct = load_image(_file("CT_small.dcm"))
    values = ct.modality_pixels()
    np.testing.assert_allclose(values, ct.pixels.astype(np.float32) * 1 - 1024)
    assert ct.window_source == "percentile"
    lo, hi = np.percentile(values, [0.5, 99.5])
    assert ct.window[0] == pytest.approx((lo + hi) / 2 + 0.5, abs=30)


def test_header_equals_full_read_for_every_loadable_file() -> None:
    for name in LOADABLE:
        path = _file(name)
        assert read_header(path) == load_image(path).meta, name
