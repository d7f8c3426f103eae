"""Binds a `MaskDocument` and the active editing tool to the image canvas.

The viewer routes left-button press/move/release (and hover) on the image to this controller (its `CanvasTool`
hook); the controller hands them to the active `pneumoviewer.editing` tool, and the document's change callback
repaints **only the changed rectangle** of the reviewer-mask overlay (`MaskOverlay.update_rect`: the RGBA buffer is
rewritten under the brush and Qt repaints just that rectangle, not the whole 1024² or 3000² layer).

Keyboard (actions from `gui.actions`, keys from `gui.shortcuts`): 1…8 pick the tools in registry order, 0 returns to
pan, `[` / `]` change the brush size, Ctrl+Z undo, Ctrl+Shift+Z and Ctrl+Y redo, Esc during a drag cancels the
stroke. Holding Shift when the drag starts flips add ↔ remove for that stroke. Space + drag and the middle button
keep panning (the viewer handles those before the tool sees anything).

The polygon is drawn across clicks: while it is open (`Tool.pending`) the canvas's keys `polygon_close` (Enter),
`polygon_back` (Backspace) and `edit_cancel` (Esc) go to it, a double-click closes it, the mouse position drives its
rubber band, and Shift on its first vertex flips add ↔ remove for the whole polygon. Changing tool or image drops an
open polygon (nothing was written to the mask yet).

Coordinates: the viewer gives image (row, col) floats where pixel (r, c) covers [r, r + 1) × [c, c + 1); tools work in
pixel-centre coordinates (pixel (r, c) is the point (r, c)), so the controller shifts by half a pixel.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from pneumoviewer.editing import MaskDocument, radius_mm
from pneumoviewer.editing.algorithms import warm_up
from pneumoviewer.editing.tools import TOOLS, Tool, create_tool
from pneumoviewer.gui.shortcuts import matches

CURSOR_COLOR = "#f2f5f8"
PREVIEW_COLOR = "#2fd0c8"
VERTEX_SCREEN_PX = 3.0  # half-size of a polygon vertex marker on screen
SNAP_SCREEN_PX = 8.0  # a click this close (screen px) to the first vertex closes the polygon
WARM_UP_THREAD = "editing-warm-up"
BBox = tuple[int, int, int, int]


class EditingController(QObject):
    """The active tool + the current image's MaskDocument, driven by the canvas (see module docstring)."""

    toolChanged = Signal(str)  # tool name, "" for pan
    historyChanged = Signal()  # undo/redo availability or labels may have changed
    committed = Signal(str)  # one finished history step (label): the place to autosave
    maskChanged = Signal(int, int, int, int)  # every pixel change (r0, r1, c0, c1)
    radiusChanged = Signal(int)  # brush/eraser radius in px
    optionChanged = Signal(str, str)  # tool name, option name
    message = Signal(str)  # a tool's note for the status bar ("that area reaches the border…")
    documentChanged = Signal()

    def __init__(self, viewer: Any, overlay: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.overlay = overlay if overlay is not None else viewer.add_overlay("review", "#2fd0c8", z=11)
        self.tools: dict[str, Tool] = {name: create_tool(name) for name in TOOLS}
        self._tool: Tool | None = None
        self._doc: MaskDocument | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._pixel_spacing: tuple[float, float] | None = None
        self._dragging = False
        self._cancelled = False
        self._flipped_mode: str | None = None  # the tool's own mode while Shift flips it for one stroke
        self._press_modifiers = Qt.KeyboardModifier.NoModifier
        self._warm_up: threading.Thread | None = None
        self._doc_image: Any = None  # the viewer's image when the document was set (same image: keep a polygon)

        vb = viewer.view_box
        self.cursor_item = QGraphicsEllipseItem()
        pen = QPen(QColor(CURSOR_COLOR))
        pen.setCosmetic(True)
        pen.setWidthF(1.2)
        self.cursor_item.setPen(pen)
        self.cursor_item.setZValue(1000)
        self.cursor_item.setVisible(False)
        self.cursor_item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        vb.addItem(self.cursor_item, ignoreBounds=True)
        self.preview_item = QGraphicsPathItem()
        ppen = QPen(QColor(PREVIEW_COLOR))
        ppen.setCosmetic(True)
        ppen.setWidthF(1.5)
        ppen.setStyle(Qt.PenStyle.DashLine)
        self.preview_item.setPen(ppen)
        self.preview_item.setZValue(999)
        self.preview_item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        vb.addItem(self.preview_item, ignoreBounds=True)
        self._last_hover: tuple[float, float] | None = None

        # modifiers of the press that starts a drag (Shift flips add/remove), Esc during a drag
        viewer.graphics.viewport().installEventFilter(self)
        viewer.graphics.installEventFilter(self)
        viewer.zoomChanged.connect(lambda _z: self._update_preview())

    def warm_up(self) -> None:
        """Import the tools' libraries in a background thread, once (after the first paint): the first Fill of a
        session then costs what any Fill costs instead of a ~0.5 s import on the GUI thread."""
        if self._warm_up is None:
            self._warm_up = threading.Thread(target=warm_up, name=WARM_UP_THREAD, daemon=True)
            self._warm_up.start()

    # ------------------------------------------------------------------------------------------------ document
    @property
    def document(self) -> MaskDocument | None:
        return self._doc

    def set_document(self, doc: MaskDocument | None, pixel_spacing: tuple[float, float] | None = None) -> None:
        """Edit `doc` (None: nothing to edit); the overlay shows its mask by reference and repaints per change.

        An open polygon survives a new document of the image on screen (the AI result arriving replaces an
        untouched document while the reader is placing vertices); another image drops it.
        """
        t, old = self._tool, self._doc
        same_image = (doc is not None and old is not None and doc.shape == old.shape
                      and self.viewer.image is self._doc_image)
        keep = same_image and t is not None and t.pending and not self._dragging
        if not keep:
            self.cancel_stroke()
        self._doc_image = self.viewer.image
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe = []
        self._doc = doc
        self._pixel_spacing = tuple(pixel_spacing) if pixel_spacing else None  # type: ignore[assignment]
        if doc is not None:
            self._unsubscribe.append(doc.subscribe(self._on_doc_changed))
            self._unsubscribe.append(doc.subscribe_committed(self._on_doc_committed))
            self.overlay.set_mask(doc.mask)
        else:
            self.overlay.set_mask(None)
        if not keep:
            self.preview_item.setPath(QPainterPath())
        self.documentChanged.emit()
        self.historyChanged.emit()
        self.radiusChanged.emit(self.radius or 0)

    @property
    def pixel_spacing(self) -> tuple[float, float] | None:
        return self._pixel_spacing

    def _on_doc_changed(self, bbox: BBox) -> None:
        self.overlay.update_rect(*bbox)
        self.maskChanged.emit(*bbox)

    def _on_doc_committed(self, label: str) -> None:
        self.committed.emit(label)
        self.historyChanged.emit()

    # ------------------------------------------------------------------------------------------------ tools
    @property
    def tool(self) -> Tool | None:
        return self._tool

    @property
    def tool_name(self) -> str:
        return self._tool.name if self._tool is not None else ""

    def set_tool(self, name: str | None) -> None:
        """Activate a tool by registry name (None or "": no tool, left-drag pans)."""
        if name and name not in self.tools:
            raise KeyError(f"unknown tool {name!r}")
        self.cancel_stroke()
        self._tool = self.tools[name] if name else None
        self.viewer.set_tool_handler(self if self._tool is not None else None)
        self._update_cursor()
        if self._tool is not None:  # the status bar says what the tool does (the panel shows it already)
            self.message.emit(f"{self._tool.label}: {self._tool.help}")
        self.toolChanged.emit(self.tool_name)
        self.radiusChanged.emit(self.radius or 0)

    def set_option(self, name: str, value: Any, tool: str | None = None) -> None:
        """Set an option of `tool` (default: the active one) with the tool's own validation."""
        t = self.tools[tool] if tool else self._tool
        if t is None:
            return
        t.set_option(name, value)
        if name == t.size_option:
            self.radiusChanged.emit(int(t.cursor_radius or 0))
            self._update_cursor()
        self.optionChanged.emit(t.name, name)

    @property
    def radius(self) -> int | None:
        """The active tool's outline radius in px (brush, eraser), else None."""
        return self._tool.cursor_radius if self._tool is not None else None

    def radius_mm(self) -> float | None:
        r = self.radius
        return None if r is None else radius_mm(r, self._pixel_spacing)

    def radius_text(self) -> str:
        """'20 px (3.4 mm)' for the panel and the status bar."""
        r = self.radius
        if r is None:
            return ""
        mm = self.radius_mm()
        return f"{r} px" + (f" ({mm:.1f} mm)" if mm is not None else "")

    def grow(self) -> None:
        """`]`: a bigger brush (brush, eraser, smooth)."""
        t = self._tool
        if t is not None and t.grow() is not None:
            self._radius_changed(t)

    def shrink(self) -> None:
        """`[`: a smaller brush (brush, eraser, smooth)."""
        t = self._tool
        if t is not None and t.shrink() is not None:
            self._radius_changed(t)

    def _radius_changed(self, t: Tool) -> None:
        self._update_cursor()
        self.radiusChanged.emit(int(t.cursor_radius or 0))
        if t.size_option:
            self.optionChanged.emit(t.name, t.size_option)
        self.message.emit(f"{t.label} size {self.radius_text()}")

    def apply_whole(self) -> bool:
        """Run a whole-mask tool once (the panel's Apply button); True if the mask changed."""
        t, doc = self._tool, self._doc
        if t is None or doc is None:
            return False
        changed = bool(t.apply(doc))
        self._report(t)
        return changed

    def _report(self, t: Tool) -> None:
        if t.message:
            self.message.emit(t.message)

    # ------------------------------------------------------------------------------------------------ undo / redo
    def undo(self) -> bool:
        if self._doc is None or self._dragging:
            return False
        done = self._doc.undo()
        self.historyChanged.emit()
        return done

    def redo(self) -> bool:
        if self._doc is None or self._dragging:
            return False
        done = self._doc.redo()
        self.historyChanged.emit()
        return done

    def cancel_stroke(self) -> bool:
        """Esc during a drag or with a polygon open: drop the unfinished shape (the document restores its pixels)."""
        t = self._tool
        if t is None or not (self._dragging or t.pending):
            return False
        pending = t.pending
        if self._doc is not None:
            t.cancel(self._doc)
        self._cancelled = self._dragging  # the release of this drag must not act
        self._end_drag()
        self.preview_item.setPath(QPainterPath())
        self.message.emit(f"{t.label} cancelled" if pending else "Stroke cancelled")
        return True

    def finish_shape(self) -> bool:
        """Enter (or a double-click) with a polygon open: close and fill it as one undo step."""
        t, doc = self._tool, self._doc
        if t is None or doc is None or not t.pending:
            return False
        t.finish(doc)
        self._report(t)
        self._after_shape(t)
        return True

    def back_shape(self) -> bool:
        """Backspace with a polygon open: remove its last vertex (the last one gone: the polygon is dropped)."""
        t = self._tool
        if t is None or not t.pending or not t.back():
            return False
        self._after_shape(t)
        return True

    def _after_shape(self, t: Tool) -> None:
        if not t.pending and not self._dragging:
            self._end_drag()
        self._update_preview()
        self.historyChanged.emit()

    def _end_drag(self) -> None:
        self._dragging = False
        if self._flipped_mode is not None and self._tool is not None:
            self._tool.set_option("mode", self._flipped_mode)
            self._flipped_mode = None

    # ------------------------------------------------------------------------------------------------ CanvasTool
    @staticmethod
    def _pt(row: float, col: float) -> tuple[float, float]:
        return row - 0.5, col - 0.5

    def press(self, row: float, col: float) -> None:
        t, doc = self._tool, self._doc
        self._cancelled = False
        if t is None or doc is None:
            return
        starts = not t.pending  # a press on an open polygon continues it: Shift counted on its first vertex only
        if starts and self._press_modifiers & Qt.KeyboardModifier.ShiftModifier and "mode" in t.option_values():
            self._flipped_mode = str(t.mode)  # type: ignore[attr-defined]
            t.set_option("mode", "remove" if self._flipped_mode == "add" else "add")
        self._dragging = True
        zoom = self.viewer.zoom()
        t.snap_radius = SNAP_SCREEN_PX / zoom if zoom > 0 else SNAP_SCREEN_PX
        t.press(doc, self._pt(row, col))
        if not t.drag:  # click tools act on press
            self._report(t)
        self._hover_at(row, col)
        self._update_preview()

    def move(self, row: float, col: float) -> None:
        t, doc = self._tool, self._doc
        if t is None or doc is None or not self._dragging or self._cancelled:
            return
        if t.drag:
            t.move(doc, self._pt(row, col))
            self._update_preview()
        self._hover_at(row, col)

    def release(self, row: float, col: float) -> None:
        t, doc = self._tool, self._doc
        if self._cancelled:
            self._cancelled = False
            return
        if t is None or doc is None or not self._dragging:
            return
        if t.drag:
            t.release(doc)
            self._report(t)
        if t.pending:  # an open polygon: the next click continues it
            self._dragging = False
        else:
            self._end_drag()
        self._update_preview()
        self.historyChanged.emit()

    def double_click(self, row: float, col: float) -> None:
        """A double-click closes an open polygon (its first click already placed the last vertex)."""
        self.finish_shape()

    def hover(self, row: float, col: float) -> None:
        t = self._tool
        if t is not None and t.pending and not self._dragging:
            t.hover(self._pt(row, col))
            self._update_preview()
        self._hover_at(row, col)

    # ------------------------------------------------------------------------------------------------ cursor
    def _hover_at(self, row: float, col: float) -> None:
        self._last_hover = (row, col)
        r = self.radius
        if r is None or self._doc is None:
            if self.cursor_item.isVisible():
                self.cursor_item.setVisible(False)
            return
        # centred on the pixel the tool will stamp, outline through the edge of the disc's outer pixels
        cr, cc = math.floor(row) + 0.5, math.floor(col) + 0.5
        rad = r + 0.5
        rect = QRectF(cc - rad, cr - rad, 2 * rad, 2 * rad)
        if self.cursor_item.rect() != rect:
            self.cursor_item.setRect(rect)
        if not self.cursor_item.isVisible():
            self.cursor_item.setVisible(True)

    def _update_cursor(self) -> None:
        if self._last_hover is not None:
            self._hover_at(*self._last_hover)
        elif self.radius is None:
            self.cursor_item.setVisible(False)
        cursor = Qt.CursorShape.CrossCursor if self._tool is not None else Qt.CursorShape.ArrowCursor
        self.viewer.graphics.viewport().setCursor(cursor)
        if self.radius is None:
            self.cursor_item.setVisible(False)

    def _update_preview(self) -> None:
        """The tool's outline (lasso, smooth drag) or the open polygon: vertices, edges and the rubber band."""
        t = self._tool
        pts, closed = t.preview() if t is not None else ((), False)
        if not pts:
            if not self.preview_item.path().isEmpty():
                self.preview_item.setPath(QPainterPath())
            return
        path = QPainterPath(QPointF(pts[0][1] + 0.5, pts[0][0] + 0.5))
        for r, c in pts[1:]:
            path.lineTo(QPointF(c + 0.5, r + 0.5))
        if closed:
            path.closeSubpath()
        if t is not None:
            zoom = self.viewer.zoom()
            half = VERTEX_SCREEN_PX / zoom if zoom > 0 else VERTEX_SCREEN_PX
            handles = t.handles()
            for r, c in handles:
                path.addRect(QRectF(c + 0.5 - half, r + 0.5 - half, 2 * half, 2 * half))
            if t.pending and len(handles) >= 3:  # the first vertex's ring: a click inside it closes the polygon
                snap = SNAP_SCREEN_PX / zoom if zoom > 0 else SNAP_SCREEN_PX
                path.addEllipse(QPointF(handles[0][1] + 0.5, handles[0][0] + 0.5), snap, snap)
        self.preview_item.setPath(path)

    # ------------------------------------------------------------------------------------------------ events
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        et = event.type()
        if et == QEvent.Type.MouseButtonPress:
            self._press_modifiers = event.modifiers()  # type: ignore[attr-defined]
        elif et == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            t = self._tool
            if matches("edit_cancel", event) and (self._dragging or (t is not None and t.pending)):
                self.cancel_stroke()
                return True
            if t is not None and t.pending and matches("polygon_close", event):
                self.finish_shape()
                return True
            if t is not None and t.pending and matches("polygon_back", event):
                self.back_shape()
                return True
        elif et == QEvent.Type.Leave and obj is self.viewer.graphics.viewport():
            self.cursor_item.setVisible(False)
            self._last_hover = None
        return False
