"""pneumoviewer.io.dicom on DICOMs written here: transfer syntaxes, display pipeline, header fields, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from pneumoviewer.core.privacy import patient_key
from pneumoviewer.io.dicom import (
    DicomError,
    load_image,
    parse_age,
    parse_view,
    read_header,
)
from pneumoviewer.io.dicom.display import apply_window, display_from_array, percentile_window
from pneumoviewer.io.dicom.write import build_dataset, write_dicom
from pneumoviewer.phantom import chest_like, write_siim_like


def cr_like(rows: int = 96, cols: int = 64, bits: int = 12, seed: int = 0) -> np.ndarray:
    """A non-square CR-like 12-bit film in MONOCHROME2 sense: air (top band) low, body high."""
    rng = np.random.default_rng(seed)
    top = 2**bits - 1
    img = np.full((rows, cols), int(top * 0.6), dtype=np.int64)
    img[: rows // 4] = int(top * 0.05)  # air above the shoulders
    img += rng.integers(-40, 40, size=img.shape)
    return np.clip(img, 0, top).astype(np.uint16)


# ---------------------------------------------------------------------------------------------------------------
# Transfer syntaxes round trip


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_lossless_syntaxes_round_trip_non_square_12_bit(tmp_path: Path, syntax: str, photometric: str) -> None:
    src = cr_like()
    stored = src if photometric == "MONOCHROME2" else (4095 - src).astype(np.uint16)
    path = write_dicom(tmp_path / "cr.dcm", stored, transfer_syntax=syntax, photometric=photometric, bits_stored=12)
    image = load_image(path)
    assert image.meta.transfer_syntax == syntax
    assert image.meta.bits_stored == 12 and image.meta.photometric == photometric
    assert image.pixels.shape == (96, 64)
    assert np.abs(image.pixels.astype(int) - stored.astype(int)).max() <= 1
    # air is dark whatever the photometric interpretation
    air, body = image.display[: 96 // 4].mean(), image.display[96 // 2 :].mean()
    assert air < 0.1 and body > 0.4
    assert image.invert == (photometric == "MONOCHROME1")


def test_monochrome1_and_monochrome2_of_the_same_film_display_alike(tmp_path: Path) -> None:
    src = cr_like(seed=3)
    m2 = load_image(write_dicom(tmp_path / "m2.dcm", src, bits_stored=12))
    m1 = load_image(write_dicom(tmp_path / "m1.dcm", (4095 - src).astype(np.uint16), photometric="MONOCHROME1",
                                bits_stored=12))
    assert np.abs(m1.display - m2.display).mean() < 0.01


def test_presentation_lut_shape_inverse_inverts(tmp_path: Path) -> None:
    src = cr_like()
    plain = load_image(write_dicom(tmp_path / "a.dcm", src, bits_stored=12))
    inverse = load_image(write_dicom(tmp_path / "b.dcm", src, bits_stored=12,
                                     attrs={"PresentationLUTShape": "INVERSE"}))
    assert inverse.invert and not plain.invert
    np.testing.assert_allclose(inverse.display, 1.0 - plain.display, atol=1e-6)


def test_siim_like_jpeg_baseline(tmp_path: Path) -> None:
    path = write_siim_like(tmp_path / "siim.dcm", size=256, seed=1, attrs={"ViewPosition": "", "PatientAge": "58"})
    image = load_image(path)
    meta = image.meta
    assert meta.transfer_syntax == JPEGBaseline8Bit
    assert (meta.rows, meta.columns, meta.bits_stored, meta.photometric) == (256, 256, 8, "MONOCHROME2")
    assert meta.view_position == "PA"  # from SeriesDescription 'view: PA'
    assert meta.patient_age == 58 and meta.patient_sex == "M" and meta.modality == "CR"
    assert meta.pixel_spacing == (0.168, 0.168)
    src = chest_like(256, 1).astype(int)
    assert np.abs(image.pixels.astype(int) - src).mean() < 3  # lossy, but close
    assert image.window_source == "percentile"
    # the fast 8-bit path equals the generic pipeline on modality values
    generic = apply_window(image.modality_pixels(), *image.window)
    np.testing.assert_allclose(image.display, generic, atol=1e-5)
    lo, hi = np.percentile(image.pixels, [0.5, 99.5])
    assert image.display[image.pixels <= lo].max() <= 0.01
    assert image.display[image.pixels >= hi].min() >= 0.99


def test_multi_frame_loads_the_requested_frame(tmp_path: Path) -> None:
    frames = np.stack([np.full((40, 30), v, dtype=np.uint16) for v in (100, 2000, 4000)])
    frames[:, :5] = 0
    for syntax in (ExplicitVRLittleEndian, RLELossless):
        path = write_dicom(tmp_path / f"mf-{syntax}.dcm", frames, transfer_syntax=syntax, bits_stored=12)
        assert read_header(path).n_frames == 3
        for k in range(3):
            image = load_image(path, frame=k)
            assert image.frame == k
            assert int(image.pixels[20, 20]) == int(frames[k, 20, 20])
        with pytest.raises(DicomError, match="frame 3 out of range"):
            load_image(path, frame=3)
        with pytest.raises(DicomError, match="out of range"):
            load_image(path, frame=-1)


def test_8_bit_and_16_bit_signed_with_rescale(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ct = rng.integers(-1000, 1500, size=(50, 70)).astype(np.int16)
    path = write_dicom(tmp_path / "ct.dcm", ct, attrs={"RescaleSlope": 2, "RescaleIntercept": -100})
    image = load_image(path)
    np.testing.assert_array_equal(image.pixels, ct)
    np.testing.assert_allclose(image.modality_pixels(), ct.astype(np.float32) * 2 - 100)
    generic = apply_window(image.modality_pixels(), *image.window)
    np.testing.assert_allclose(image.display, generic, atol=1e-5)
    small = load_image(write_dicom(tmp_path / "u8.dcm", rng.integers(0, 256, (30, 20)).astype(np.uint8)))
    assert small.meta.bits_stored == 8 and small.display.shape == (30, 20)


# ---------------------------------------------------------------------------------------------------------------
# VOI: window tags, VOI LUT sequence, functions, percentile


def test_window_tags_first_value_of_multi_valued(tmp_path: Path) -> None:
    src = cr_like()
    path = write_dicom(tmp_path / "w.dcm", src, bits_stored=12,
                       attrs={"WindowCenter": [1000, 2000], "WindowWidth": [501, 800]})
    image = load_image(path)
    assert image.window == (1000.0, 501.0) and image.window_source == "tags"
    values = np.array([[749.5, 1000.0, 1250.5]], dtype=np.float32)
    out = apply_window(values, 1000, 501)
    np.testing.assert_allclose(out, [[0.0, 0.501, 1.0]], atol=2e-3)


def test_window_in_modality_units_after_rescale(tmp_path: Path) -> None:
    src = np.tile(np.arange(0, 200, dtype=np.uint16), (10, 1))
    path = write_dicom(tmp_path / "r.dcm", src, attrs={"RescaleSlope": 10, "RescaleIntercept": -1000,
                                                       "WindowCenter": 0, "WindowWidth": 1001})
    image = load_image(path)
    # modality value 0 ↔ stored 100 sits at mid-grey
    assert image.display[0, 100] == pytest.approx(0.5, abs=0.01)
    assert image.display[0, 40] == 0.0 and image.display[0, 160] == 1.0


def test_voi_lut_sequence_beats_window_tags(tmp_path: Path) -> None:
    src = np.tile(np.arange(0, 256, dtype=np.uint16), (4, 1))
    ds = build_dataset(src, attrs={"WindowCenter": 10, "WindowWidth": 5})
    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.add_new("LUTData", "US", [int(4095 * (v / 255) ** 2) for v in range(256)])  # a gamma curve
    ds.VOILUTSequence = Sequence([item])
    path = tmp_path / "voi.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = load_image(path)
    assert image.window_source == "voi_lut"
    np.testing.assert_allclose(image.display[0], (np.arange(256) / 255) ** 2, atol=2e-3)
    # re-windowing bypasses the LUT, as a viewer's window/level drag does
    re = image.rewindow(127.5, 256)
    assert re[0, 0] < 0.01 and re[0, 255] > 0.99 and abs(re[0, 128] - 0.5) < 0.01


def test_modality_lut_sequence(tmp_path: Path) -> None:
    src = np.tile(np.arange(0, 64, dtype=np.uint16), (3, 1))
    ds = build_dataset(src)
    item = Dataset()
    item.LUTDescriptor = [64, 0, 16]
    item.ModalityLUTType = "US"
    item.add_new("LUTData", "US", [1000 - 10 * v for v in range(64)])  # a decreasing modality LUT
    ds.ModalityLUTSequence = Sequence([item])
    path = tmp_path / "mlut.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = load_image(path)
    np.testing.assert_allclose(image.modality_pixels()[0], 1000 - 10 * np.arange(64))
    assert image.display[0, 0] > image.display[0, 63]  # follows the LUT, not the stored order


def test_sigmoid_and_linear_exact(tmp_path: Path) -> None:
    src = np.tile(np.arange(0, 1000, 10, dtype=np.uint16), (3, 1))
    sig = load_image(write_dicom(tmp_path / "s.dcm", src, attrs={
        "WindowCenter": 500, "WindowWidth": 200, "VOILUTFunction": "SIGMOID"}))
    assert sig.voi_function == "SIGMOID"
    assert sig.display[0, 50] == pytest.approx(0.5, abs=1e-3)
    assert sig.display[0, 60] == pytest.approx(1 / (1 + np.exp(-4 * 100 / 200)), abs=1e-3)
    exact = apply_window(np.array([400.0, 500.0, 600.0]), 500, 200, function="LINEAR_EXACT")
    np.testing.assert_allclose(exact, [0.0, 0.5, 1.0], atol=1e-6)


def test_percentile_window_ignores_outliers(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src = rng.integers(1000, 1100, size=(200, 300)).astype(np.uint16)
    src[:3, :3] = 65000  # a few hot pixels (burned-in marker)
    src[-3:, -3:] = 0
    image = load_image(write_dicom(tmp_path / "p.dcm", src))
    center, width = image.window
    assert 1000 <= center <= 1100 and width < 150
    assert image.display[100, 100] not in (0.0, 1.0) or width < 150
    assert image.display[:3, :3].min() == 1.0 and image.display[-3:, -3:].max() == 0.0


def test_percentile_window_function_and_constant_image() -> None:
    values = np.concatenate([np.zeros(10), np.linspace(0, 100, 10000), np.full(10, 1e6)]).astype(np.float32)
    c, w = percentile_window(values)
    assert 0 < c < 100 and w < 110
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    flat = display_from_array(np.full((8, 8), 7, dtype=np.uint16), ds)
    assert np.isfinite(flat.display).all() and flat.display.min() >= 0 and flat.display.max() <= 1


def test_display_never_mutates_pixels_and_rewindow(tmp_path: Path) -> None:
    src = cr_like()
    image = load_image(write_dicom(tmp_path / "x.dcm", src, bits_stored=12))
    before = image.pixels.copy()
    image.display[:] = 0
    out = image.rewindow(image.window[0], image.window[1] / 4)
    np.testing.assert_array_equal(image.pixels, before)
    assert out.dtype == np.float32 and out.shape == src.shape
    with pytest.raises(ValueError):
        image.pixels[0, 0] = 1
    # a narrower window gives more contrast
    assert out.std() >= apply_window(image.modality_pixels(), *image.window).std()
    lo, hi = image.value_range()
    assert lo == src.min() and hi == src.max()


def test_float_pixel_data_with_window(tmp_path: Path) -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    values = np.linspace(-1, 1, 100, dtype=np.float32).reshape(10, 10)
    out = display_from_array(values, ds)
    assert out.source == "percentile"
    assert out.display[0, 0] == 0.0 and out.display[-1, -1] == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Header fields


@pytest.mark.parametrize(
    ("raw", "years"),
    [("038Y", 38), ("38", 38), ("006M", 0), ("018M", 1), ("002W", 0), ("104W", 2), ("010D", 0), ("800D", 2),
     (" 45 ", 45), ("", None), (None, None), ("abc", None), ("999Y", None), ("12X", None)],
)
def test_parse_age(raw: object, years: int | None) -> None:
    assert parse_age(raw) == years


def test_parse_view() -> None:
    assert parse_view("PA", "view: AP") == "PA"
    assert parse_view("", "view: AP") == "AP"
    assert parse_view(None, "View:pa") == "PA"
    assert parse_view(None, "chest") is None


def test_header_fields_and_privacy(tmp_path: Path) -> None:
    attrs = {"PatientID": "SECRET-ID-123", "PatientName": "Doe^Jane", "PatientAge": "006M", "PatientSex": "F",
             "ViewPosition": "AP", "Modality": "DX", "BodyPartExamined": "CHEST", "ImagerPixelSpacing": [0.2, 0.1]}
    path = write_dicom(tmp_path / "h.dcm", cr_like(), bits_stored=12, attrs=attrs)
    meta = read_header(path)
    assert meta.patient_age == 0 and meta.patient_sex == "F" and meta.view_position == "AP"
    assert meta.modality == "DX" and meta.body_part == "CHEST"
    assert meta.pixel_spacing == (0.2, 0.1)  # ImagerPixelSpacing when PixelSpacing is absent
    assert meta.patient_key and "SECRET" not in meta.patient_key
    assert "SECRET" not in repr(meta) and "Doe" not in repr(meta)
    assert meta.patient_key == patient_key("SECRET-ID-123") != patient_key("SECRET-ID-124")
    assert patient_key("") is None


def test_header_read_does_not_need_pixels(tmp_path: Path) -> None:
    path = write_siim_like(tmp_path / "s.dcm", size=64)
    data = path.read_bytes()
    # a header read never decodes: a corrupt JPEG stream still gives its header, the full load fails cleanly
    soi = data.index(b"\xff\xd8\xff")
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(data[: soi + 2] + b"\x00" * (len(data) - soi - 30) + data[-28:])
    assert read_header(broken) == read_header(path)
    with pytest.raises(DicomError, match="cannot decode"):
        load_image(broken)


# ---------------------------------------------------------------------------------------------------------------
# Errors


def test_errors_name_the_file_and_reason(tmp_path: Path) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("hello, I am not a DICOM file\n" * 10)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    good = write_dicom(tmp_path / "good.dcm", cr_like(), bits_stored=12)
    truncated = tmp_path / "trunc.dcm"
    truncated.write_bytes(good.read_bytes()[:-500])
    nopix = tmp_path / "nopix.dcm"
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.save_as(nopix, enforce_file_format=True)
    cases = {
        text: "not a DICOM file",
        empty: "not a DICOM file",
        truncated: "truncated",
        nopix: "no pixel data",
        tmp_path / "missing.dcm": "cannot read",
        tmp_path: "cannot read",
    }
    for path, reason in cases.items():
        for fn in (read_header, load_image):
            with pytest.raises(DicomError) as info:
                fn(path)
            assert reason in info.value.reason, (path, fn.__name__, info.value.reason)
            assert str(path) in str(info.value)


def test_unsupported_transfer_syntax(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "g.dcm", cr_like(), bits_stored=12)
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: a video, no decoder
    ds.save_as(tmp_path / "mpeg.dcm")
    assert read_header(tmp_path / "mpeg.dcm").transfer_syntax == "1.2.840.10008.1.2.4.100"
    with pytest.raises(DicomError, match=r"unsupported transfer syntax|no decoder|cannot decode"):
        load_image(tmp_path / "mpeg.dcm")


def test_loading_from_worker_threads(tmp_path: Path) -> None:
    """The GUI loads images on worker threads: same results as on the main thread, errors still DicomError."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [write_dicom(tmp_path / f"t{k}.dcm", cr_like(seed=k), bits_stored=12) for k in range(4)]
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"nope" * 100)
    expected = [load_image(p).display for p in paths]

    def work(path: Path) -> object:
        try:
            return load_image(path).display
        except DicomError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, [*paths, bad] * 3))
    for k, result in enumerate(results):
        if k % 5 == 4:
            assert isinstance(result, DicomError) and "not a DICOM file" in result.reason
        else:
            np.testing.assert_array_equal(result, expected[k % 5])


def test_window_levels_round_trip() -> None:
    from pneumoviewer.io.dicom import levels_to_window, window_to_levels

    low, high = window_to_levels(1000, 501)
    assert (low, high) == (749.5, 1249.5)
    assert levels_to_window(low, high) == (1000.0, 501.0)
    out = apply_window(np.array([low, high]), 1000, 501)
    np.testing.assert_allclose(out, [0.0, 1.0], atol=1e-6)


def test_fastest_decoder_first_and_fallback_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    from pneumoviewer.io.dicom.decode import _available_plugins

    assert _available_plugins(JPEGBaseline8Bit)[0][0] == "pillow"  # 3-4x faster than pydicom's default
    assert _available_plugins(JPEGLSLossless)[0][0] == "pyjpegls"
    assert _available_plugins(RLELossless)[0][:2] == ("pylibjpeg", "pydicom")
    path = write_siim_like(tmp_path / "s.dcm", size=64, seed=4)
    reference = load_image(path).pixels.astype(int)

    real = pydicom.pixels.pixel_array
    used: list[str] = []

    def flaky(src: object, **kwargs: object) -> np.ndarray:
        used.append(str(kwargs.get("decoding_plugin")))
        if kwargs.get("decoding_plugin") == "pillow":
            raise RuntimeError("simulated Pillow failure")
        return real(src, **kwargs)

    monkeypatch.setattr(pydicom.pixels, "pixel_array", flaky)
    image = load_image(path)
    assert used[:2] == ["pillow", "pylibjpeg"]
    assert np.abs(image.pixels.astype(int) - reference).max() <= 1  # another decoder, ±1 grey level

    monkeypatch.setattr(pydicom.pixels, "pixel_array", lambda src, **kw: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(DicomError, match="cannot decode pixel data"):
        load_image(path)
