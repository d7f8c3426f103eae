"""Mask overlays: one RGBA `ImageItem` per mask layer (AI, reviewer, reference), drawn above the radiograph.

An overlay keeps a reference to the boolean mask it shows (no copy), so an editor that changes that array in place
only has to call `update_rect(r0, r1, c0, c1)`: just that slice of the RGBA buffer is rebuilt (contour mode grows the
slice by the contour width so edges stay right) and only that rectangle of the item is repainted. pyqtgraph wraps the
RGBA buffer in its QImage without a copy (RGBA8888 pass-through), so invalidating the rectangle is enough: no QImage
rebuild, no whole-item repaint (Qt repaints a few hundred screen pixels per brush event, not a 1024² or 3000² layer).

A paint draws only the rectangle that can hold coloured pixels (an upper bound kept per update, exact after
`set_mask`), so a zoom or pan with a small lesion on screen does not blend a whole transparent 1024² layer per layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor

from pneumoviewer.editing.algorithms import bbox_of

FILL = "fill"
CONTOUR = "contour"


def _rgba(color: str | QColor) -> tuple[int, int, int]:
    c = QColor(color)
    return c.red(), c.green(), c.blue()


def _erode(mask: np.ndarray, k: int) -> np.ndarray:
    """Binary erosion by a 3×3 cross, `k` times, outside counted as set (numpy only: scipy.ndimage costs 0.35 s
    of start-up import)."""
    out = mask
    for _ in range(k):
        p = np.pad(out, 1, constant_values=True)
        out = out & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return out


def _shares_buffer(qimage: object, rgba: np.ndarray) -> bool:
    """True when pyqtgraph's QImage wraps `rgba` itself (pass-through RGBA8888, no downsampling copy)."""
    data = getattr(qimage, "data", None) if qimage is not None else None
    if data is None or not hasattr(data, "ctypes"):
        return False
    return bool(data.ctypes.data == rgba.ctypes.data and data.shape == rgba.shape and data.strides == rgba.strides)


class MaskOverlay(pg.ImageItem):
    """A boolean mask shown as a coloured, semi-transparent layer (fill or contour)."""

    def __init__(self, name: str, color: str, opacity: float = 0.45, mode: str = FILL, z: float = 10) -> None:
        super().__init__(axisOrder="row-major")
        self.name = name
        self._color = _rgba(color)
        self._alpha = round(255 * min(1.0, max(0.0, opacity)))
        self._mode = mode
        self._mask: np.ndarray | None = None
        self._rgba: np.ndarray | None = None
        self._content: list[int] | None = None  # (r0, r1, c0, c1) holding every coloured pixel; None: none
        self.setZValue(z)
        self.setAutoDownsample(False)

    # -- state -----------------------------------------------------------------------------------------------------
    @property
    def mask(self) -> np.ndarray | None:
        """The array shown (the same object that was passed to `set_mask`)."""
        return self._mask

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def color(self) -> QColor:
        return QColor(*self._color)

    @property
    def alpha(self) -> int:
        return self._alpha

    @property
    def contour_width(self) -> int:
        """Contour thickness in image pixels: about 1 screen pixel when a 1024² image fits a window."""
        if self._mask is None:
            return 1
        return max(1, round(max(self._mask.shape) / 600))

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show `mask` (bool, rows × cols) or nothing; keeps a reference so in-place edits can be repainted."""
        if mask is None:
            self._mask = None
            self._rgba = None
            self._content = None
            self.clear()
            return
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
        self._mask = mask if mask.dtype == bool else mask.astype(bool)
        h, w = self._mask.shape
        self._rgba = np.zeros((h, w, 4), dtype=np.uint8)
        self._content = None
        self._fill_rgba(0, h, 0, w)
        self.setImage(self._rgba, autoLevels=False, levels=None)

    def set_style(
        self, color: str | QColor | None = None, opacity: float | None = None, mode: str | None = None
    ) -> None:
        if color is not None:
            self._color = _rgba(color)
        if opacity is not None:
            self._alpha = round(255 * min(1.0, max(0.0, opacity)))
        if mode is not None:
            if mode not in (FILL, CONTOUR):
                raise ValueError(f"overlay mode must be 'fill' or 'contour', got {mode!r}")
            self._mode = mode
        if self._mask is not None and self._rgba is not None:
            h, w = self._mask.shape
            self._content = None
            self._fill_rgba(0, h, 0, w)
            self.updateImage()

    # -- painting ----------------------------------------------------------------------------------------------------
    def update_rect(self, r0: int, r1: int, c0: int, c1: int) -> None:
        """Re-read mask[r0:r1, c0:c1] (half-open) and repaint; cheap compared with `set_mask` for small edits."""
        if self._mask is None or self._rgba is None:
            return
        h, w = self._mask.shape
        r0, r1 = max(0, int(r0)), min(h, int(r1))
        c0, c1 = max(0, int(c0)), min(w, int(c1))
        if r0 >= r1 or c0 >= c1:
            return
        if self._mode == CONTOUR:
            m = self.contour_width + 1
            r0, r1, c0, c1 = max(0, r0 - m), min(h, r1 + m), max(0, c0 - m), min(w, c1 + m)
        self._fill_rgba(r0, r1, c0, c1)
        if self._renderRequired:
            self.update()  # the first paint renders the whole item anyway
        elif _shares_buffer(self.qimage, self._rgba):
            # item coordinates are image pixels (x = column, y = row); one pixel of margin for antialiased scaling
            self.update(QRectF(c0 - 1, r0 - 1, c1 - c0 + 2, r1 - r0 + 2))
        else:  # pyqtgraph copied the buffer (e.g. downsampling): rebuild its QImage
            self.updateImage()

    def _fill_rgba(self, r0: int, r1: int, c0: int, c1: int) -> None:
        assert self._mask is not None and self._rgba is not None
        if self._mode == CONTOUR:
            k = self.contour_width
            h, w = self._mask.shape
            # read a margin so the erosion near the slice border sees the true neighbours
            pr0, pr1, pc0, pc1 = max(0, r0 - k), min(h, r1 + k), max(0, c0 - k), min(w, c1 + k)
            padded = self._mask[pr0:pr1, pc0:pc1]
            inner = _erode(padded, k)
            edge = (padded & ~inner)[r0 - pr0 : r1 - pr0, c0 - pc0 : c1 - pc0]
            sel = edge
        else:
            sel = self._mask[r0:r1, c0:c1]
        out = self._rgba[r0:r1, c0:c1]
        out[...] = 0
        out[sel] = (*self._color, self._alpha if self._mode == FILL else min(255, self._alpha + 110))
        box = bbox_of(sel)
        if box is not None:
            b = [r0 + box[0], r0 + box[1], c0 + box[2], c0 + box[3]]
            cb = self._content
            if cb is not None:
                b = [min(cb[0], b[0]), max(cb[1], b[1]), min(cb[2], b[2]), max(cb[3], b[3])]
            self._content = b

    def paint(self, painter: Any, *args: Any) -> None:
        """Draw only the rectangle that can hold coloured pixels (nothing for an empty layer)."""
        if self.image is None:
            return
        if self._renderRequired:  # once per set_mask: later edits write into the QImage's own buffer
            self.render()
            if self._unrenderable:
                return
        if self._content is None:
            return
        r0, r1, c0, c1 = self._content
        rect = QRectF(c0, r0, c1 - c0, r1 - r0)
        painter.drawImage(rect, self.qimage, rect)
