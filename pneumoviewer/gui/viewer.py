"""The image canvas: a pyqtgraph GraphicsLayoutWidget with the radiograph, mask overlays and a histogram/LUT.

Mouse: wheel zooms; left-drag pans when no editing tool is active (with a tool: the tool gets the drag); middle-drag
and space + left-drag always pan; right-drag changes window/level (horizontal = width, vertical = level).

The radiograph item holds modality values (stored pixels through the modality LUT, never changed); window/level only
sets the item's levels, MONOCHROME1 (and the user's invert toggle) only flips the lookup table.

Editing integration: `set_tool_handler(handler)` routes left-button press/move/release (and hover and double-click,
where the handler has them) on the image to `handler` in image (row, col) coordinates — floats, pixel (r, c) covers
[r, r + 1) × [c, c + 1) — see `CanvasTool`. `add_overlay(name, color)` makes a `MaskOverlay` (RGBA `ImageItem`) whose
`update_rect(r0, r1, c0, c1)` repaints only the changed rectangle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

from pneumoviewer.gui.overlay import FILL, MaskOverlay

# Synthetic and fast real drags must reach the tools: pyqtgraph drops moves above 100/s by default.
pg.setConfigOptions(mouseRateLimit=0, imageAxisOrder="row-major", antialias=False)

#: Window presets in display units: the default (DICOM/VOI) window spans 0 (black) … 1 (white); a preset is the
#: (center, width) of the displayed range in those units, so one preset means the same thing for 8-bit JPEG SIIM
#: images and 16-bit MONOCHROME1 CR. "Full range" is special: the data's min … max.
DEFAULT_PRESETS: dict[str, tuple[float, float]] = {
    "DICOM default": (0.5, 1.0),
    "Lung": (0.36, 0.72),  # spreads the dark half: lung markings, pleural line, the edge of a pneumothorax
    "Bone": (0.68, 0.64),  # spreads the bright half
    "High contrast": (0.5, 0.55),
    "Full range": (float("nan"), float("nan")),
}
FULL_RANGE = "Full range"

#: Images up to this many pixels on their long side are drawn at full resolution at every zoom: a wheel notch then
#: only changes the view transform. Larger ones are downsampled for drawing (pyqtgraph's auto-downsampling), which
#: re-renders the image whenever the factor changes but keeps each paint of a 3000² film cheap.
DOWNSAMPLE_ABOVE = 2048


@runtime_checkable
class CanvasTool(Protocol):
    """What the canvas calls while a tool is active (the editing integrator adapts `pneumoviewer.editing` tools)."""

    def press(self, row: float, col: float) -> None: ...

    def move(self, row: float, col: float) -> None: ...

    def release(self, row: float, col: float) -> None: ...


@dataclass(frozen=True)
class Window:
    """Window in modality units (the values in the image item)."""

    center: float
    width: float

    @property
    def levels(self) -> tuple[float, float]:
        return self.center - self.width / 2, self.center + self.width / 2


class _NotifyingImageItem(pg.ImageItem):
    """Emits `sigPainted` after the first paint of each new image: "first image painted" is a real paint."""

    sigPainted = Signal()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._notify = False

    def setImage(self, image: np.ndarray | None = None, autoLevels: bool | None = None, **kwargs: Any) -> None:
        if image is not None:
            self._notify = True
        super().setImage(image, autoLevels=autoLevels, **kwargs)

    def paint(self, p: Any, *args: Any) -> None:
        super().paint(p, *args)
        if self._notify:
            self._notify = False
            self.sigPainted.emit()


class _CanvasViewBox(pg.ViewBox):
    """ViewBox with the reading-room mouse map (see module docstring)."""

    def __init__(self, viewer: ImageViewer) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._viewer = viewer
        self._wl_start: Window | None = None
        self._tool_dragging = False

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:
        v = self._viewer
        button = ev.button()
        if button == Qt.MouseButton.RightButton:
            ev.accept()
            v.wl_drag(ev)
            return
        if button == Qt.MouseButton.LeftButton and v.tool_handler is not None and not v.space_held:
            ev.accept()
            if ev.isStart():
                self._tool_dragging = True
                r, c = v.scene_to_image(ev.buttonDownScenePos(button))
                v.tool_handler.press(r, c)
            if not self._tool_dragging:
                return
            r, c = v.scene_to_image(ev.scenePos())
            if ev.isFinish():
                self._tool_dragging = False
                v.tool_handler.move(r, c)
                v.tool_handler.release(r, c)
            else:
                v.tool_handler.move(r, c)
            return
        if self._tool_dragging and ev.isFinish() and v.tool_handler is not None:
            self._tool_dragging = False
        super().mouseDragEvent(ev, axis)  # left (no tool / space held) and middle: pan

    def mouseClickEvent(self, ev: Any) -> None:
        v = self._viewer
        if ev.button() == Qt.MouseButton.LeftButton and v.tool_handler is not None and not v.space_held:
            ev.accept()
            r, c = v.scene_to_image(ev.scenePos())
            double = getattr(v.tool_handler, "double_click", None)
            if ev.double() and callable(double):  # its first click arrived as a click of its own
                double(r, c)
                return
            v.tool_handler.press(r, c)
            v.tool_handler.release(r, c)
            return
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()  # no context menu: right button is window/level
            return
        super().mouseClickEvent(ev)

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:
        super().wheelEvent(ev, axis)
        self._viewer.zoomChanged.emit(self._viewer.zoom())


class ImageViewer(QWidget):
    """Radiograph canvas with window/level, zoom/pan, histogram and mask overlays."""

    imageShown = Signal(str)  # image_id, after set_image
    imagePainted = Signal()  # first paint of the current image
    windowChanged = Signal(float, float)  # center, width in modality units
    cursorMoved = Signal(float, float)  # row, col (image coordinates; may lie outside the image)
    cursorLeft = Signal()
    zoomChanged = Signal(float)  # screen pixels per image pixel
    invertedChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tool_handler: CanvasTool | None = None
        self.space_held = False
        self._image: Any = None
        self._data: np.ndarray | None = None
        self._default = Window(0.5, 1.0)
        self._data_range = (0.0, 1.0)
        self._monochrome1 = False
        self._user_invert = False
        self._overlays: dict[str, MaskOverlay] = {}
        self._setting_levels = False

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#000000")
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.graphics.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.view_box = _CanvasViewBox(self)
        self.graphics.addItem(self.view_box, row=0, col=0)
        self.image_item = _NotifyingImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.histogram = pg.HistogramLUTItem(image=self.image_item, orientation="vertical", gradientPosition="right")
        self.histogram.setFixedWidth(110)
        self.histogram.gradient.loadPreset("grey")
        self.histogram.plot.setPen(pg.mkPen(143, 163, 184, 200))
        self.histogram.plot.setBrush(pg.mkBrush(143, 163, 184, 70))
        self.histogram.plot.setFillLevel(0.0)
        self.histogram.axis.setPen(pg.mkPen("#3a4654"))
        self.histogram.axis.setTextPen(pg.mkPen("#8fa3b8"))
        self.histogram.region.setBrush(pg.mkBrush(47, 106, 163, 45))
        self.graphics.addItem(self.histogram, row=0, col=1)
        self.histogram.sigLevelsChanged.connect(self._on_histogram_levels)
        self.image_item.sigPainted.connect(self.imagePainted)

        self._placeholder = QLabel("Open a folder of DICOM studies (File ▸ Open Folder…, Ctrl+O) or drop one here")
        self._placeholder.setObjectName("placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._stack = QStackedLayout()
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self.graphics)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._stack)

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.installEventFilter(self)
        self.graphics.viewport().installEventFilter(self)

    # -- image ---------------------------------------------------------------------------------------------------------
    @property
    def image(self) -> Any:
        """The DicomImage shown (or None)."""
        return self._image

    @property
    def data(self) -> np.ndarray | None:
        """The modality-value array in the image item (never modified)."""
        return self._data

    def set_placeholder(self, text: str) -> None:
        self._placeholder.setText(text)
        if self._image is None:
            self._stack.setCurrentWidget(self._placeholder)

    def clear(self, message: str | None = None) -> None:
        self._image = None
        self._data = None
        self.image_item.clear()
        for ov in self._overlays.values():
            ov.set_mask(None)
        if message:
            self._placeholder.setText(message)
        self._stack.setCurrentWidget(self._placeholder)

    def set_image(
        self,
        image: Any,
        data: np.ndarray,
        window: tuple[float, float],
        monochrome1: bool,
        keep_view: bool = False,
        keep_window: bool = False,
    ) -> None:
        """Show `data` (modality values, rows × cols) of `image` with the default `window` (center, width).

        keep_view keeps zoom/pan when the size is unchanged (stepping through a series); keep_window keeps the
        current window in display units (a preset stays applied when moving to the next image).
        """
        prev_shape = None if self._data is None else self._data.shape
        prev_display = self.display_window() if (keep_window and self._data is not None) else None
        self._image = image
        self._data = data
        self._monochrome1 = bool(monochrome1)
        center, width = float(window[0]), max(float(window[1]), 1e-6)
        self._default = Window(center, width)
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
        if not (np.isfinite(lo) and np.isfinite(hi)):  # NaN/inf present: only then pay for the masked copy
            finite = data[np.isfinite(data)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self._data_range = (lo, hi if hi > lo else lo + 1.0)
        target = self._default
        if prev_display is not None:
            target = self._from_display(*prev_display)
        self._setting_levels = True
        try:
            self.image_item.setAutoDownsample(max(data.shape[:2]) > DOWNSAMPLE_ABOVE)
            self.image_item.setImage(data, autoLevels=False, levels=target.levels)
            self.histogram.setHistogramRange(*self._data_range, padding=0.02)
            self.histogram.setLevels(*target.levels)
        finally:
            self._setting_levels = False
        self._apply_lut()
        for ov in self._overlays.values():
            ov.set_mask(None)
        self._stack.setCurrentWidget(self.graphics)
        if not (keep_view and prev_shape == data.shape):
            self.fit()
        self.windowChanged.emit(target.center, target.width)
        image_id = getattr(getattr(image, "meta", None), "image_id", "") or ""
        self.imageShown.emit(image_id)

    # -- window / level ------------------------------------------------------------------------------------------------
    def window(self) -> Window:
        lo, hi = self.image_item.getLevels() if self.image_item.image is not None else self._default.levels
        return Window((float(lo) + float(hi)) / 2, float(hi) - float(lo))

    def default_window(self) -> Window:
        return self._default

    def set_window(self, center: float, width: float) -> None:
        """Window in modality units; the raw array is not touched."""
        w = Window(float(center), max(float(width), 1e-6))
        self._setting_levels = True
        try:
            self.image_item.setLevels(w.levels)
            self.histogram.setLevels(*w.levels)
        finally:
            self._setting_levels = False
        self.windowChanged.emit(w.center, w.width)

    def _to_display(self, w: Window) -> tuple[float, float]:
        """(center, width) in display units of a modality-unit window."""
        lo, _hi = self._default.levels
        span = self._default.width
        c = (w.center - lo) / span
        if self._monochrome1:
            c = 1.0 - c
        return c, w.width / span

    def _from_display(self, center: float, width: float) -> Window:
        lo, _hi = self._default.levels
        span = self._default.width
        c = 1.0 - center if self._monochrome1 else center
        return Window(lo + c * span, width * span)

    def display_window(self) -> tuple[float, float]:
        """The current window in display units (see DEFAULT_PRESETS)."""
        return self._to_display(self.window())

    def apply_preset(self, name: str, presets: dict[str, tuple[float, float]] | None = None) -> None:
        presets = presets or DEFAULT_PRESETS
        if name == FULL_RANGE:
            lo, hi = self._data_range
            self.set_window((lo + hi) / 2, hi - lo)
            return
        if name not in presets:
            raise KeyError(f"unknown window preset {name!r}")
        center, width = presets[name]
        w = self._from_display(center, width)
        self.set_window(w.center, w.width)

    def matching_preset(self, presets: dict[str, tuple[float, float]] | None = None) -> str | None:
        """The name of the preset the current window equals (to 0.1 % of the default width), else None.

        The preset box shows this, so it never names a preset the image no longer shows (after a right-drag,
        or after a reopen that shows the DICOM default).
        """
        if self._data is None:
            return None
        presets = presets or DEFAULT_PRESETS
        current = self.window()
        tol = 1e-3 * self._default.width
        for name, (center, width) in presets.items():
            if name == FULL_RANGE:
                lo, hi = self._data_range
                wanted = Window((lo + hi) / 2, hi - lo)
            else:
                wanted = self._from_display(center, width)
            if abs(wanted.center - current.center) <= tol and abs(wanted.width - current.width) <= tol:
                return name
        return None

    def wl_drag(self, ev: Any) -> None:
        if ev.isStart():
            self._wl_start = self.window()
        start = getattr(self, "_wl_start", None) or self.window()
        d = ev.screenPos() - ev.buttonDownScreenPos(Qt.MouseButton.RightButton)
        lo, hi = self._data_range
        scale = (hi - lo) / 600.0  # a 600 px drag sweeps the whole data range
        sign = -1.0 if self.displays_inverted() else 1.0  # dragging down darkens, whatever the photometric
        width = max(start.width + d.x() * scale, scale)
        center = start.center + sign * d.y() * scale
        self.set_window(center, width)

    def _on_histogram_levels(self, *_: Any) -> None:
        if self._setting_levels or self.image_item.image is None:
            return
        w = self.window()
        self.windowChanged.emit(w.center, w.width)

    # -- invert ------------------------------------------------------------------------------------------------------
    @property
    def inverted(self) -> bool:
        """The user's invert toggle (on top of MONOCHROME1 handling)."""
        return self._user_invert

    def set_inverted(self, on: bool) -> None:
        if bool(on) != self._user_invert:
            self._user_invert = bool(on)
            self._apply_lut()
            self.invertedChanged.emit(self._user_invert)

    def displays_inverted(self) -> bool:
        """True when low modality values are shown white (MONOCHROME1 xor the user's invert)."""
        return self._monochrome1 != self._user_invert

    def _apply_lut(self) -> None:
        if self.displays_inverted():
            state = {"mode": "rgb", "ticks": [(0.0, (255, 255, 255, 255)), (1.0, (0, 0, 0, 255))]}
        else:
            state = {"mode": "rgb", "ticks": [(0.0, (0, 0, 0, 255)), (1.0, (255, 255, 255, 255))]}
        self.histogram.gradient.restoreState(state)

    def reset(self) -> None:
        """Default window, no user inversion, fit to window."""
        self.set_inverted(False)
        if self._data is not None:
            self.set_window(self._default.center, self._default.width)
        self.fit()

    # -- zoom / pan --------------------------------------------------------------------------------------------------
    def fit(self) -> None:
        if self._data is None:
            return
        h, w = self._data.shape[:2]
        self.view_box.setRange(xRange=(0, w), yRange=(0, h), padding=0.01)
        self.zoomChanged.emit(self.zoom())

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, keeping the view centre."""
        if self._data is None:
            return
        vb_rect = self.view_box.sceneBoundingRect()
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ratio = self.graphics.devicePixelRatioF() or 1.0
        w, h = vb_rect.width() / ratio, vb_rect.height() / ratio
        self.view_box.setRange(xRange=(cx - w / 2, cx + w / 2), yRange=(cy - h / 2, cy + h / 2), padding=0)
        self.zoomChanged.emit(self.zoom())

    def zoom(self) -> float:
        """Screen pixels per image pixel (horizontal)."""
        (x0, x1), _ = self.view_box.viewRange()
        span = x1 - x0
        return float(self.view_box.sceneBoundingRect().width() / span) if span > 0 else 1.0

    def zoom_by(self, factor: float) -> None:
        self.view_box.scaleBy((1.0 / factor, 1.0 / factor))
        self.view_box.updateMatrix()
        self.zoomChanged.emit(self.zoom())

    # -- coordinates -------------------------------------------------------------------------------------------------
    def scene_to_image(self, scene_pos: QPointF) -> tuple[float, float]:
        """(row, col) in image pixels of a scene position."""
        p = self.view_box.mapSceneToView(scene_pos)  # refreshes a stale view matrix (image item sits at the origin)
        return float(p.y()), float(p.x())

    def image_to_scene(self, row: float, col: float) -> QPointF:
        return self.view_box.mapViewToScene(QPointF(col, row))

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._data is None:
            return
        r, c = self.scene_to_image(scene_pos)
        h, w = self._data.shape[:2]
        if 0 <= r < h and 0 <= c < w:
            self.cursorMoved.emit(r, c)
        else:
            self.cursorLeft.emit()
        hover = getattr(self.tool_handler, "hover", None)
        if callable(hover):
            hover(r, c)

    # -- overlays / tools --------------------------------------------------------------------------------------------
    def add_overlay(self, name: str, color: str, opacity: float = 0.45, mode: str = FILL, z: float = 10) -> MaskOverlay:
        """A mask layer above the image (one per name); reuse it by name with `overlay(name)`."""
        if name in self._overlays:
            return self._overlays[name]
        ov = MaskOverlay(name, color, opacity=opacity, mode=mode, z=z)
        self.view_box.addItem(ov)
        self._overlays[name] = ov
        return ov

    def overlay(self, name: str) -> MaskOverlay | None:
        return self._overlays.get(name)

    def overlays(self) -> dict[str, MaskOverlay]:
        return dict(self._overlays)

    def set_tool_handler(self, handler: CanvasTool | None) -> None:
        """Route left-button press/move/release on the image to `handler` (None: left-drag pans again)."""
        self.tool_handler = handler

    # -- keys --------------------------------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        et = event.type()
        if et in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == Qt.Key.Key_Space:  # type: ignore[attr-defined]
            if not event.isAutoRepeat():  # type: ignore[attr-defined]
                self.space_held = et == QEvent.Type.KeyPress
                cursor = Qt.CursorShape.OpenHandCursor if self.space_held else Qt.CursorShape.ArrowCursor
                self.graphics.viewport().setCursor(cursor)
            return True
        if et == QEvent.Type.FocusOut and obj is self.graphics:
            self.space_held = False
        return super().eventFilter(obj, event)
