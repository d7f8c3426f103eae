"""The canvas: window/level by drag, histogram and presets; MONOCHROME1; zoom/pan; tool dispatch; overlays."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from pneumoviewer.gui.viewer import DEFAULT_PRESETS, ImageViewer
from pneumoviewer.gui.workers import load_for_display

from .conftest import send_drag


@pytest.fixture
def viewer(qtbot):
    v = ImageViewer()
    v.resize(800, 700)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    return v


def _show(viewer, path):
    item = load_for_display(path)
    viewer.set_image(item.image, item.data, item.window, item.monochrome1)
    return item


def _rendered(viewer) -> np.ndarray:
    """The 8-bit grey the image item actually paints (pyqtgraph's own render of data + levels + LUT)."""
    from PySide6.QtGui import QImage

    viewer.image_item.render()
    qimg = viewer.image_item.qimage.convertToFormat(QImage.Format.Format_RGB32)  # indexed/grey/ARGB alike
    ptr = qimg.constBits()
    arr = np.frombuffer(ptr, np.uint8, qimg.sizeInBytes()).reshape(qimg.height(), qimg.bytesPerLine())
    return arr[:, : qimg.width() * 4].reshape(qimg.height(), qimg.width(), 4)[..., 0].astype(int)


@pytest.fixture
def cr_mono1(tmp_path):
    """A 12-bit MONOCHROME1 CR, not square, with rescale and window tags (a typical real CR export)."""
    from pydicom.uid import ComputedRadiographyImageStorage

    from pneumoviewer.io.dicom.write import write_dicom

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:300, 0:240]
    pixels = (3000 - 8 * y - 2 * x + rng.normal(0, 20, y.shape)).clip(0, 4095).astype(np.uint16)
    attrs = {
        "Modality": "CR",
        "RescaleSlope": 1.0,
        "RescaleIntercept": -100.0,
        "WindowCenter": 1400,
        "WindowWidth": 2000,
        "PixelSpacing": [0.2, 0.2],
        "SOPClassUID": ComputedRadiographyImageStorage,
    }
    return write_dicom(
        tmp_path / "cr.dcm",
        pixels,
        transfer_syntax=ExplicitVRLittleEndian,
        photometric="MONOCHROME1",
        bits_stored=12,
        attrs=attrs,
    )


@pytest.mark.parametrize("kind", ["siim", "mono1"])
def test_default_display_matches_the_pipeline(viewer, tmp_path, cr_mono1, kind):
    from pneumoviewer.phantom import write_siim_like

    path = write_siim_like(tmp_path / "siim.dcm", size=256) if kind == "siim" else cr_mono1
    item = _show(viewer, path)
    expected = np.round(item.image.display * 255).astype(int)
    got = _rendered(viewer)
    assert got.shape == expected.shape
    assert np.percentile(np.abs(got - expected), 99) <= 2  # same picture as the display pipeline (±rounding)
    if kind == "mono1":
        assert viewer.displays_inverted()
        # MONOCHROME1: high stored values are dark on screen
        hi = np.unravel_index(np.argmax(item.image.pixels), item.image.pixels.shape)
        lo = np.unravel_index(np.argmin(item.image.pixels), item.image.pixels.shape)
        assert got[hi] < got[lo]


def test_right_drag_changes_window_level_never_the_data(viewer, qtbot, tmp_path):
    from pneumoviewer.phantom import write_siim_like

    item = _show(viewer, write_siim_like(tmp_path / "a.dcm", size=256))
    raw = item.data.copy()
    pixels = item.image.pixels.copy()
    before = viewer.window()
    vp = viewer.graphics.viewport()
    c = vp.rect().center()
    with qtbot.waitSignal(viewer.windowChanged):
        send_drag(vp, Qt.MouseButton.RightButton, c, c + QPoint(120, 0))
    wider = viewer.window()
    assert wider.width > before.width * 1.2
    assert wider.center == pytest.approx(before.center, abs=1e-3)
    send_drag(vp, Qt.MouseButton.RightButton, c, c + QPoint(0, 80))
    darker = viewer.window()
    assert darker.center > wider.center  # dragging down raises the level: darker on screen
    np.testing.assert_array_equal(viewer.data, raw)
    np.testing.assert_array_equal(item.image.pixels, pixels)
    assert viewer.image_item.getLevels()[0] == pytest.approx(darker.center - darker.width / 2)
    viewer.reset()
    assert viewer.window().center == pytest.approx(item.window[0])


def test_histogram_levels_drive_the_window(viewer, qtbot, tmp_path):
    from pneumoviewer.phantom import write_siim_like

    _show(viewer, write_siim_like(tmp_path / "a.dcm", size=128))
    with qtbot.waitSignal(viewer.windowChanged) as sig:
        viewer.histogram.region.setRegion((40.0, 120.0))  # what dragging the histogram's range does
    assert sig.args == pytest.approx([80.0, 80.0])
    assert tuple(viewer.image_item.getLevels()) == pytest.approx((40.0, 120.0))


def test_presets_are_in_display_units_for_both_photometrics(viewer, tmp_path, cr_mono1):
    from pneumoviewer.phantom import write_siim_like

    for path in (write_siim_like(tmp_path / "a.dcm", size=128), cr_mono1):
        item = _show(viewer, path)
        for name, (center, width) in DEFAULT_PRESETS.items():
            viewer.apply_preset(name)
            if name == "Full range":
                lo, hi = float(item.data.min()), float(item.data.max())
                assert viewer.window().levels == pytest.approx((lo, hi), rel=1e-5)
            else:
                assert viewer.display_window() == pytest.approx((center, width), abs=1e-6)
        viewer.apply_preset("Lung")
        # the lung preset brightens the dark half of the displayed picture, whichever the photometric
        default = np.round(item.image.display * 255)
        got = _rendered(viewer)
        dark = default < 80
        assert got[dark].mean() > default[dark].mean() + 10


def test_invert_flips_the_lut_only(viewer, tmp_path):
    from pneumoviewer.phantom import write_siim_like

    item = _show(viewer, write_siim_like(tmp_path / "a.dcm", size=128))
    normal = _rendered(viewer)
    viewer.set_inverted(True)
    inverted = _rendered(viewer)
    assert np.abs((255 - normal) - inverted).max() <= 2
    np.testing.assert_array_equal(viewer.data, item.data)
    viewer.reset()
    assert not viewer.inverted


def test_zoom_fit_and_one_to_one(viewer, qtbot, tmp_path):
    from pneumoviewer.phantom import write_siim_like

    _show(viewer, write_siim_like(tmp_path / "a.dcm", size=1024))
    fit = viewer.zoom()
    assert fit < 1.0  # a 1024² image fits an 800×700 widget
    viewer.one_to_one()
    assert viewer.zoom() == pytest.approx(1.0, rel=0.02)
    viewer.fit()
    assert viewer.zoom() == pytest.approx(fit, rel=0.02)
    vp = viewer.graphics.viewport()
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(vp.rect().center())
    wheel = QWheelEvent(
        pos,
        QPointF(vp.mapToGlobal(pos.toPoint())),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(vp, wheel)
    assert viewer.zoom() > fit * 1.1


def test_left_drag_pans_without_tool_and_goes_to_the_tool_when_set(viewer, qtbot, tmp_path):
    from pneumoviewer.phantom import write_siim_like

    _show(viewer, write_siim_like(tmp_path / "a.dcm", size=512))
    viewer.zoom_by(2.0)
    vp = viewer.graphics.viewport()
    c = vp.rect().center()
    before = viewer.view_box.viewRange()
    send_drag(vp, Qt.MouseButton.LeftButton, c, c + QPoint(60, 40))
    after = viewer.view_box.viewRange()
    assert after[0][0] < before[0][0] - 10 and after[1][0] < before[1][0] - 10  # dragged right/down: view moved

    class Recorder:
        def __init__(self):
            self.events = []

        def press(self, r, c):
            self.events.append(("press", r, c))

        def move(self, r, c):
            self.events.append(("move", r, c))

        def release(self, r, c):
            self.events.append(("release", r, c))

    tool = Recorder()
    viewer.set_tool_handler(tool)
    start_scene = viewer.graphics.mapToScene(c)
    r0, c0 = viewer.scene_to_image(start_scene)
    view_before = viewer.view_box.viewRange()
    send_drag(vp, Qt.MouseButton.LeftButton, c, c + QPoint(50, 0), steps=25)
    kinds = [e[0] for e in tool.events]
    assert kinds[0] == "press" and kinds[-1] == "release" and kinds.count("move") >= 20  # mouseRateLimit is off
    assert tool.events[0][1] == pytest.approx(r0, abs=1.0) and tool.events[0][2] == pytest.approx(c0, abs=1.0)
    assert tool.events[-1][2] > tool.events[0][2] + 10  # moved right in image columns
    assert viewer.view_box.viewRange() == view_before  # the tool drag did not pan
    # space + drag pans even with a tool
    tool.events.clear()
    qtbot.keyPress(viewer.graphics, Qt.Key.Key_Space)
    assert viewer.space_held
    send_drag(vp, Qt.MouseButton.LeftButton, c, c + QPoint(40, 0))
    qtbot.keyRelease(viewer.graphics, Qt.Key.Key_Space)
    assert not tool.events
    assert viewer.view_box.viewRange() != view_before
    # a click is press + release
    from PySide6.QtTest import QTest

    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    assert [e[0] for e in tool.events] == ["press", "release"]


def test_overlay_update_rect_repaints_only_the_rectangle(viewer, tmp_path):
    from pneumoviewer.phantom import write_siim_like

    _show(viewer, write_siim_like(tmp_path / "a.dcm", size=256))
    ov = viewer.add_overlay("review", "#2fd0c8", opacity=0.5)
    assert viewer.add_overlay("review", "#000000") is ov
    mask = np.zeros((256, 256), bool)
    ov.set_mask(mask)
    assert ov.mask is mask and ov.image[..., 3].max() == 0
    mask[100:110, 50:60] = True  # edited in place (as the editing document does)
    mask[0:5, 0:5] = True  # outside the rectangle passed below
    ov.update_rect(100, 110, 50, 60)
    alpha = ov.image[..., 3]
    assert (alpha[100:110, 50:60] == round(0.5 * 255)).all()
    assert alpha[0:5, 0:5].max() == 0  # not re-read: only the rectangle is repainted
    assert tuple(ov.image[105, 55, :3]) == (0x2F, 0xD0, 0xC8)
    ov.set_style(mode="contour")
    ov.update_rect(0, 256, 0, 256)
    assert alpha is not ov.image[..., 3] or True
    assert ov.image[104, 54, 3] == 0 and ov.image[100, 55, 3] > 0
    with pytest.raises(ValueError):
        ov.set_style(mode="stripes")
    with pytest.raises(ValueError):
        ov.set_mask(np.zeros((2, 2, 2), bool))


def test_wheel_zoom_changes_only_the_view_transform(viewer, qtbot):
    """Zooming a 1024² image in and out (across 50 %, where auto-downsampling would switch) re-renders neither the
    radiograph nor a mask layer: the image and the mask are not converted again, only drawn with a new transform."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    rng = np.random.default_rng(0)
    viewer.set_image(None, rng.normal(0.5, 0.1, (1024, 1024)).astype(np.float32), (0.5, 1.0), False)
    mask = np.zeros((1024, 1024), bool)
    mask[400:600, 300:500] = True
    overlay = viewer.add_overlay("review", "#2fd0c8")
    overlay.set_mask(mask)
    qtbot.waitUntil(lambda: viewer.image_item.qimage is not None and overlay.qimage is not None)
    renders = {"image": 0, "overlay": 0}
    painted = {"n": 0}
    for key, item in (("image", viewer.image_item), ("overlay", overlay)):
        def counting(*a, _orig=item.render, _key=key):
            renders[_key] += 1
            return _orig(*a)

        item.render = counting
    orig_paint = viewer.image_item.paint

    def paint(*a):
        painted["n"] += 1
        orig_paint(*a)

    viewer.image_item.paint = paint
    vp = viewer.graphics.viewport()
    centre = QPointF(vp.width() / 2, vp.height() / 2)
    zooms = []
    for step in (-1, -1, -1, 1, 1, 1, 1):
        before = painted["n"]
        ev = QWheelEvent(centre, QPointF(vp.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 120 * step),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(vp, ev)
        qtbot.waitUntil(lambda b=before: painted["n"] > b)
        zooms.append(viewer.zoom())
    assert min(zooms) < 0.5 < max(zooms)  # the notches crossed the factor-2 downsampling threshold
    assert renders == {"image": 0, "overlay": 0}
    big = np.zeros((3000, 2500), np.float32)
    viewer.set_image(None, big, (0.5, 1.0), False)
    assert viewer.image_item.autoDownsample  # a 3000² film is still downsampled for drawing
