"""Undo history: compact atoms that hold only the changed pixels, in a bounded deque.

A boolean mask has only two values, so "the changed pixels' old values" is exactly "which pixels flipped": an atom
stores the tight bounding box of the change and the flip pattern inside it, either as a packed bit-mask (1 bit per
bbox pixel, zlib-compressed when that saves space — a curved brush stroke leaves most of its bbox untouched) or as
flat indices into the bbox, whichever is smaller. Undo and redo are the same XOR, so one atom serves both
directions and redo costs no extra memory.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from pneumoviewer.editing.algorithms import BBox

_ATOM_OVERHEAD = 64  # bytes charged per atom for its Python object, so many tiny atoms still count


@dataclass(frozen=True)
class Atom:
    """One undo item: the pixels of one stroke / click / whole-mask edit that flipped."""

    bbox: BBox
    data: np.ndarray | bytes  # packed bits (uint8, or zlib bytes) or flat indices (uint16/uint32) into the bbox
    packed: bool
    count: int  # number of flipped pixels
    label: str = "edit"
    compressed: bool = False

    @classmethod
    def from_diff(cls, diff: np.ndarray, origin: tuple[int, int], label: str = "edit") -> Atom | None:
        """An atom from a boolean "flipped" array whose top-left pixel is at `origin`; None if nothing flipped."""
        rows = np.flatnonzero(diff.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(diff.any(axis=0))
        lr0, lr1, lc0, lc1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        tight = diff[lr0:lr1, lc0:lc1]
        bbox = (origin[0] + lr0, origin[0] + lr1, origin[1] + lc0, origin[1] + lc1)
        n = tight.size
        count = int(np.count_nonzero(tight))
        itemsize = 2 if n <= 0xFFFF else 4
        if count * itemsize < (n + 7) // 8:
            data = np.flatnonzero(tight).astype(np.uint16 if itemsize == 2 else np.uint32)
            return cls(bbox, data, packed=False, count=count, label=label)
        bits = np.packbits(tight, axis=None)
        if bits.nbytes >= 256:
            z = zlib.compress(bits.tobytes(), 1)
            if len(z) < 0.75 * bits.nbytes:
                return cls(bbox, z, packed=True, count=count, label=label, compressed=True)
        return cls(bbox, bits, packed=True, count=count, label=label)

    @property
    def shape(self) -> tuple[int, int]:
        r0, r1, c0, c1 = self.bbox
        return r1 - r0, c1 - c0

    @property
    def nbytes(self) -> int:
        size = len(self.data) if isinstance(self.data, bytes) else int(self.data.nbytes)
        return size + _ATOM_OVERHEAD

    def flips(self) -> np.ndarray:
        """The boolean flip pattern over :attr:`bbox`."""
        h, w = self.shape
        if self.packed:
            bits = np.frombuffer(zlib.decompress(self.data), np.uint8) if self.compressed else self.data
            return np.unpackbits(bits, count=h * w).view(bool).reshape(h, w)  # type: ignore[arg-type]
        out = np.zeros(h * w, dtype=bool)
        out[self.data] = True
        return out.reshape(h, w)

    def apply(self, mask: np.ndarray) -> BBox:
        """Flip the atom's pixels in `mask` in place (undo and redo alike); returns the bbox touched."""
        r0, r1, c0, c1 = self.bbox
        region = mask[r0:r1, c0:c1]
        np.logical_xor(region, self.flips(), out=region)
        return self.bbox


class History:
    """Bounded undo/redo stacks. Oldest atoms drop off when either the level count or the byte cap is exceeded."""

    def __init__(self, max_levels: int = 1000, max_bytes: int = 32 * 1024 * 1024) -> None:
        if max_levels < 1:
            raise ValueError("max_levels must be ≥ 1")
        self.max_levels = int(max_levels)
        self.max_bytes = int(max_bytes)
        self._undo: deque[Atom] = deque()
        self._redo: deque[Atom] = deque()
        self._undo_bytes = 0
        self._redo_bytes = 0

    def push(self, atom: Atom) -> None:
        """Record a new edit: redo is cleared, the oldest levels are dropped to stay within the caps."""
        self._redo.clear()
        self._redo_bytes = 0
        self._undo.append(atom)
        self._undo_bytes += atom.nbytes
        while len(self._undo) > self.max_levels or (self._undo_bytes > self.max_bytes and len(self._undo) > 1):
            self._undo_bytes -= self._undo.popleft().nbytes

    def pop_undo(self) -> Atom | None:
        if not self._undo:
            return None
        atom = self._undo.pop()
        self._undo_bytes -= atom.nbytes
        self._redo.append(atom)
        self._redo_bytes += atom.nbytes
        return atom

    def pop_redo(self) -> Atom | None:
        if not self._redo:
            return None
        atom = self._redo.pop()
        self._redo_bytes -= atom.nbytes
        self._undo.append(atom)
        self._undo_bytes += atom.nbytes
        return atom

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._undo_bytes = self._redo_bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by undo + redo atoms (payload + a fixed per-atom overhead)."""
        return self._undo_bytes + self._redo_bytes

    @property
    def undo_levels(self) -> int:
        return len(self._undo)

    @property
    def redo_levels(self) -> int:
        return len(self._redo)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def peek_undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    def peek_redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None
