"""MaskDocument: one image's boolean mask, the single routine that edits it, and its undo history.

Every edit is (boolean modifier over a bbox, mode) handed to :meth:`MaskDocument.apply`. Edits happen inside a
*stroke* (``begin_stroke`` … ``end_stroke``; tools do this for you): the first time a stroke touches a 64×64 tile
the tile's old pixels are copied aside, so a brush move costs only the stamp itself; at ``end_stroke`` the touched
tiles are diffed and one compact :class:`~pneumoviewer.editing.history.Atom` (changed pixels only) is recorded — or
nothing, if the stroke changed nothing.

Listeners:

* ``subscribe(cb)``: ``cb(bbox)`` after every pixel change (each brush move, undo, redo, …) with the changed
  rectangle ``(r0, r1, c0, c1)`` — the canvas repaints only that rectangle.
* ``subscribe_committed(cb)``: ``cb(label)`` once per finished history step (stroke end, click edit, undo, redo,
  ``set_mask``) — the place to persist ``doc.mask`` to the review store and refresh undo/redo buttons.

No Qt here: the GUI adapts these callbacks to signals.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np

from pneumoviewer.editing.algorithms import BBox
from pneumoviewer.editing.history import Atom, History

ChangeCallback = Callable[[BBox], None]
CommitCallback = Callable[[str], None]


class Mode(str, enum.Enum):
    """How a modifier combines with the mask."""

    ADD = "add"  # mask |= modifier
    REMOVE = "remove"  # mask &= ~modifier
    SET = "set"  # mask[bbox] = modifier


class MaskDocument:
    """A boolean mask with undo/redo; the only writer of its pixels."""

    TILE = 64

    def __init__(self, height: int, width: int, *, max_levels: int = 1000, max_bytes: int = 32 * 1024 * 1024) -> None:
        if height <= 0 or width <= 0:
            raise ValueError(f"mask size must be positive, got {height}×{width}")
        self._mask = np.zeros((int(height), int(width)), dtype=bool)
        self._view = self._mask.view()
        self._view.setflags(write=False)
        self._history = History(max_levels=max_levels, max_bytes=max_bytes)
        self._change_cbs: list[ChangeCallback] = []
        self._commit_cbs: list[CommitCallback] = []
        self.version = 0  # bumps on every pixel change; cheap "is my cache stale" check for the canvas
        # stroke state
        t = self.TILE
        self._touched = np.zeros(((height + t - 1) // t, (width + t - 1) // t), dtype=bool)
        self._before: np.ndarray | None = None  # lazily allocated full-size scratch, valid on touched tiles only
        self._in_stroke = False
        self._stroke_label = "edit"
        self._stroke_box: list[int] | None = None  # union bbox of the stroke's modifiers
        self._stroke_changed = False

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_mask(cls, mask: np.ndarray, **kwargs: int) -> MaskDocument:
        """A document starting from `mask` (copied); the starting state is not an undo step."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
        doc = cls(mask.shape[0], mask.shape[1], **kwargs)
        doc._mask[...] = mask.astype(bool, copy=False)
        return doc

    # ------------------------------------------------------------------ read side

    @property
    def mask(self) -> np.ndarray:
        """The current mask as a read-only view (copy it to keep a snapshot)."""
        return self._view

    @property
    def shape(self) -> tuple[int, int]:
        return self._mask.shape  # type: ignore[return-value]

    @property
    def height(self) -> int:
        return self._mask.shape[0]

    @property
    def width(self) -> int:
        return self._mask.shape[1]

    @property
    def history(self) -> History:
        return self._history

    @property
    def history_nbytes(self) -> int:
        """Bytes held by the undo + redo history."""
        return self._history.nbytes

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo or (self._in_stroke and self._stroke_changed)

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    @property
    def in_stroke(self) -> bool:
        return self._in_stroke

    def is_empty(self) -> bool:
        return not self._mask.any()

    # ------------------------------------------------------------------ listeners

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call `callback(bbox)` after every pixel change; returns an unsubscribe function."""
        self._change_cbs.append(callback)
        return lambda: self._change_cbs.remove(callback) if callback in self._change_cbs else None

    def subscribe_committed(self, callback: CommitCallback) -> Callable[[], None]:
        """Call `callback(label)` after every finished history step; returns an unsubscribe function."""
        self._commit_cbs.append(callback)
        return lambda: self._commit_cbs.remove(callback) if callback in self._commit_cbs else None

    def _changed(self, bbox: BBox) -> None:
        self.version += 1
        for cb in tuple(self._change_cbs):
            cb(bbox)

    def _committed(self, label: str) -> None:
        for cb in tuple(self._commit_cbs):
            cb(label)

    # ------------------------------------------------------------------ strokes

    def begin_stroke(self, label: str = "edit") -> None:
        """Start one undo item; edits until :meth:`end_stroke` join it. A stroke already open is ended first."""
        if self._in_stroke:
            self.end_stroke()
        self._in_stroke = True
        self._stroke_label = label
        self._stroke_box = None
        self._stroke_changed = False

    def end_stroke(self) -> bool:
        """Close the stroke: record one atom of the changed pixels (nothing if none changed). True if recorded."""
        if not self._in_stroke:
            return False
        self._in_stroke = False
        box, self._stroke_box = self._stroke_box, None
        if not self._stroke_changed or box is None:
            self._touched[...] = False
            return False
        r0, r1, c0, c1 = box
        t = self.TILE
        before = self._before
        assert before is not None
        if self._touched[r0 // t : (r1 - 1) // t + 1, c0 // t : (c1 - 1) // t + 1].all():
            # every tile under the box was saved (big edits, set_mask): one vectorised diff
            touched = np.empty((0, 2), dtype=np.intp)
            diff = before[r0:r1, c0:c1] != self._mask[r0:r1, c0:c1]
        else:
            touched = np.argwhere(self._touched)
            diff = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        self._touched[...] = False
        for tr, tc in touched:
            tr0, tr1 = max(tr * t, r0), min((tr + 1) * t, r1)
            tc0, tc1 = max(tc * t, c0), min((tc + 1) * t, c1)
            if tr0 >= tr1 or tc0 >= tc1:
                continue
            np.not_equal(
                before[tr0:tr1, tc0:tc1],
                self._mask[tr0:tr1, tc0:tc1],
                out=diff[tr0 - r0 : tr1 - r0, tc0 - c0 : tc1 - c0],
            )
        atom = Atom.from_diff(diff, (r0, c0), label=self._stroke_label)
        if atom is None:  # e.g. painted then erased the same pixels within one stroke
            return False
        self._history.push(atom)
        self._committed(self._stroke_label)
        return True

    def cancel_stroke(self) -> None:
        """Abandon the open stroke, restoring the pixels it changed (Esc during a drag)."""
        if not self._in_stroke:
            return
        box = self._stroke_box
        touched = np.argwhere(self._touched)
        self._in_stroke = False
        self._stroke_box = None
        self._touched[...] = False
        if box is None or not self._stroke_changed:
            return
        t = self.TILE
        assert self._before is not None
        for tr, tc in touched:
            sl = np.s_[tr * t : (tr + 1) * t, tc * t : (tc + 1) * t]
            self._mask[sl] = self._before[sl]
        self._changed(tuple(box))  # type: ignore[arg-type]

    def _snapshot(self, r0: int, r1: int, c0: int, c1: int) -> None:
        """Copy aside the old pixels of every tile in the bbox that this stroke has not touched yet."""
        t = self.TILE
        tr0, tr1, tc0, tc1 = r0 // t, (r1 - 1) // t + 1, c0 // t, (c1 - 1) // t + 1
        block = self._touched[tr0:tr1, tc0:tc1]
        if block.all():
            return
        if self._before is None:
            self._before = np.empty_like(self._mask)
        if not block.any():  # nothing saved here yet: copy the tile-aligned region in one go
            sl = np.s_[tr0 * t : tr1 * t, tc0 * t : tc1 * t]
            self._before[sl] = self._mask[sl]
            block[...] = True
            return
        for i, j in np.argwhere(~block):
            sl = np.s_[(tr0 + i) * t : (tr0 + i + 1) * t, (tc0 + j) * t : (tc0 + j + 1) * t]
            self._before[sl] = self._mask[sl]
        block[...] = True

    # ------------------------------------------------------------------ the one edit routine

    def apply(self, modifier: np.ndarray, bbox: BBox, mode: Mode | str = Mode.ADD) -> bool:
        """Combine `modifier` (bool, bbox-shaped) into the mask; True if any pixel changed.

        Outside a stroke this is a one-edit stroke of its own (one undo item).
        """
        mode = Mode(mode)
        modifier = np.asarray(modifier, dtype=bool)  # no copy for the usual bool modifier
        r0, r1, c0, c1 = (int(v) for v in bbox)
        h, w = self._mask.shape
        if modifier.shape != (r1 - r0, c1 - c0):
            raise ValueError(f"modifier shape {modifier.shape} does not match bbox {bbox}")
        if not (0 <= r0 <= r1 <= h and 0 <= c0 <= c1 <= w):
            raise ValueError(f"bbox {bbox} outside the {h}×{w} mask")
        if r0 == r1 or c0 == c1:
            return False
        own = not self._in_stroke
        if own:
            self.begin_stroke(mode.value)
        region = self._mask[r0:r1, c0:c1]
        if mode is Mode.ADD:
            changed = bool(np.any(modifier > region))
        elif mode is Mode.REMOVE:
            changed = bool(np.any(modifier & region))
        else:
            changed = not np.array_equal(modifier, region)
        if changed:
            self._snapshot(r0, r1, c0, c1)
            if mode is Mode.ADD:
                np.logical_or(region, modifier, out=region)
            elif mode is Mode.REMOVE:
                region &= ~modifier
            else:
                region[...] = modifier
            sb = self._stroke_box
            if sb is None:
                self._stroke_box = [r0, r1, c0, c1]
            else:
                sb[0], sb[1], sb[2], sb[3] = min(sb[0], r0), max(sb[1], r1), min(sb[2], c0), max(sb[3], c1)
            self._stroke_changed = True
            self._changed((r0, r1, c0, c1))
        if own:
            self.end_stroke()
        return changed

    def set_mask(self, mask: np.ndarray, label: str = "set mask") -> bool:
        """Replace the whole mask as one undoable edit (e.g. 'accept AI', 'clear'); True if anything changed."""
        mask = np.asarray(mask)
        if mask.shape != self._mask.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the document {self._mask.shape}")
        self.begin_stroke(label)
        changed = self.apply(mask.astype(bool, copy=False), (0, self.height, 0, self.width), Mode.SET)
        self.end_stroke()
        return changed

    def record_step(self, label: str) -> None:
        """Record a history step that changes no pixel (a review decision such as 'flag' on an unchanged mask), so
        undo and redo walk over it like any edit and the listeners see it committed."""
        if self._in_stroke:
            self.end_stroke()
        self._history.push(Atom((0, 0, 0, 0), np.empty(0, dtype=np.uint16), packed=False, count=0, label=label))
        self._committed(label)

    def replace(self, mask: np.ndarray) -> None:
        """Load a mask without recording history and clear the history (e.g. after reloading from the store)."""
        mask = np.asarray(mask)
        if mask.shape != self._mask.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the document {self._mask.shape}")
        if self._in_stroke:
            self.cancel_stroke()
        self._mask[...] = mask.astype(bool, copy=False)
        self._history.clear()
        self._changed((0, self.height, 0, self.width))

    # ------------------------------------------------------------------ undo / redo

    def undo(self) -> bool:
        """Undo the last history step (ends an open stroke first); False if there is nothing to undo."""
        if self._in_stroke:
            self.end_stroke()
        atom = self._history.pop_undo()
        if atom is None:
            return False
        self._changed(atom.apply(self._mask))
        self._committed("undo")
        return True

    def redo(self) -> bool:
        """Redo the last undone step; False if there is nothing to redo."""
        if self._in_stroke:
            self.end_stroke()
        atom = self._history.pop_redo()
        if atom is None:
            return False
        self._changed(atom.apply(self._mask))
        self._committed("redo")
        return True

    @property
    def undo_label(self) -> str | None:
        """What Ctrl+Z would undo ('brush', 'fill', …) for the Edit menu text."""
        return self._history.peek_undo_label()

    @property
    def redo_label(self) -> str | None:
        return self._history.peek_redo_label()
