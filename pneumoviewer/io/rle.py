"""The SIIM-ACR run-length codec, exactly as the challenge files have it.

Format (pneumoviewer/ARCHITECTURE.md): the mask is flattened column-major (transpose, then ravel); the string is
``start length start length ...`` where the first start is an absolute 0-based pixel index and every later start
counts the background pixels since the previous run ended. An empty mask is ``-1``. Unlike the organisers'
per-pixel helper, a run that touches the very last pixel is encoded too.

Everything is vectorised: transitions are found in row-major order (fast on C-contiguous masks) and mapped to
column-major indices, so a 1024² mask encodes without a transposed copy.
"""

from __future__ import annotations

import re

import numpy as np

from pneumoviewer.core.text import printable

__all__ = [
    "EMPTY",
    "MAX_PIXELS",
    "RleError",
    "check_size",
    "decode",
    "encode",
    "encode_instances",
    "parse",
    "runs_to_string",
]

EMPTY = "-1"
# The largest mask this codec reads or decodes: 2**31 pixels (46,340², ten times the largest X-ray detector). A
# bound on every value and on the running end of the runs keeps int64 arithmetic far from overflow, and one on
# height x width keeps a decoded mask (1 byte a pixel) at most 2 GiB.
MAX_PIXELS = 1 << 31


class RleError(ValueError):
    """A malformed or out-of-bounds SIIM RLE string."""


def _as_mask(mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise RleError(f"mask must be 2-D (rows, columns), got shape {arr.shape}")
    return arr if arr.dtype == np.bool_ else arr != 0


def _column_major_transitions(mask: np.ndarray) -> np.ndarray:
    """Sorted column-major indices k where pixel k differs from pixel k-1 (pixel -1 and H*W are background)."""
    h, w = mask.shape
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return np.empty(0, dtype=np.int64)
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    sub = mask[:, c0:c1]
    rows = np.flatnonzero(sub.any(axis=1))
    # Within a column: a change between row r-1 and r is a transition at k = c*H + r (only rows r0..r1+1 can change).
    lo, hi = max(int(rows[0]), 1), min(int(rows[-1]) + 2, h)
    if hi > lo:
        flat = np.flatnonzero(sub[lo:hi] != sub[lo - 1 : hi - 1])
        vr, vc = np.divmod(flat, c1 - c0)
        inner = (vc + c0) * h + vr + lo
    else:
        inner = np.empty(0, dtype=np.int64)
    # Across a column boundary: pixel (0, c) follows pixel (H-1, c-1) in column-major order.
    prev_bottom = np.empty(c1 - c0 + 1, dtype=bool)
    prev_bottom[0] = mask[h - 1, c0 - 1] if c0 > 0 else False
    prev_bottom[1:] = sub[h - 1]
    top = np.empty(c1 - c0 + 1, dtype=bool)
    top[:-1] = sub[0]
    top[-1] = mask[0, c1] if c1 < w else False
    bc = np.flatnonzero(top != prev_bottom)
    boundary = (bc.astype(np.int64) + c0) * h
    ks = np.concatenate([inner, boundary])
    ks.sort()
    return ks


def runs_to_string(starts: np.ndarray, lengths: np.ndarray) -> str:
    """Absolute 0-based column-major run starts + lengths → SIIM string (relative starts after the first)."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if starts.size == 0:
        return EMPTY
    rel = starts.copy()
    rel[1:] -= starts[:-1] + lengths[:-1]
    pairs = np.empty(2 * starts.size, dtype=np.int64)
    pairs[0::2] = rel
    pairs[1::2] = lengths
    return " ".join(map(str, pairs.tolist()))


def encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (image orientation, any truthy dtype) as one SIIM RLE string; ``-1`` when empty."""
    m = _as_mask(mask)
    ks = _column_major_transitions(m)
    if ks.size == 0:
        return EMPTY
    return runs_to_string(ks[0::2], ks[1::2] - ks[0::2])


def encode_instances(mask: np.ndarray) -> list[str]:
    """One RLE string per 8-connected component, in column-major order of each component's first pixel.

    This is the training-CSV style (one row per pneumothorax instance); an empty mask gives ``[]``.
    """
    from skimage.measure import label

    m = _as_mask(mask)
    if not m.any():
        return []
    # Label the transpose so component numbers follow column-major order (the order of the RLE itself).
    lab_t = label(m.T, connectivity=2)
    n = int(lab_t.max())
    out = []
    for i in range(1, n + 1):
        out.append(encode((lab_t == i).T))
    return out


_SEP = re.compile(r"[ \t\r\n\f\v]+")
_DIGITS = re.compile(r"[0-9]+")
_NEGATIVE = re.compile(r"-[0-9]+")
_DIGITS_AND_SPACE = b"0123456789 \t\r\n\f\v"
_MAX_DIGITS = 18  # any 18-digit number fits an int64
_LONG = re.compile(rb"[0-9]{%d}" % (_MAX_DIGITS + 1))
_TOO_LARGE = f"larger than the largest image this reads ({MAX_PIXELS:,} pixels)"


def parse(rle: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate the syntax of one RLE string; return absolute 0-based starts and lengths (int64).

    Values are plain ASCII decimal digits (no sign, ``_``, ``+`` or other scripts' digits, which Python's ``int``
    would take) separated by ASCII white space. Every value and the running end of the runs must stay within
    `MAX_PIXELS`: checked here, before anything is allocated, so no int64 sum can overflow further down. Bounds
    against the real image are not checked (its size is unknown here); ``decode`` checks them. ``-1`` (or an empty
    string) gives empty arrays. Errors name the offending token and its pair.
    """
    if not isinstance(rle, str):
        raise RleError(f"RLE must be a string, got {type(rle).__name__}")
    text = rle.strip()
    if text in ("", EMPTY):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if not text.isascii() or (raw := text.encode("ascii")).translate(None, _DIGITS_AND_SPACE):
        tokens = _SEP.split(text)
        i, bad = next((i, t) for i, t in enumerate(tokens) if _DIGITS.fullmatch(t) is None)
        if _NEGATIVE.fullmatch(bad):
            raise RleError(f"RLE {_what(i)} {_shown(bad)} at pair {i // 2 + 1} is negative")
        raise RleError(
            f"RLE {_what(i)} {_shown(bad)} at pair {i // 2 + 1} is not a whole number (ASCII digits 0-9 only)"
        )
    if _LONG.search(raw):  # 19+ digits: too large for int64 unless they are leading zeros
        tokens = text.split()
        stripped = [t.lstrip("0") or "0" for t in tokens]
        for i, t in enumerate(stripped):
            if len(t) > _MAX_DIGITS:
                raise RleError(f"RLE {_what(i)} {_shown(tokens[i])} at pair {i // 2 + 1} is {_TOO_LARGE}")
        values = np.array(stripped, dtype=np.int64)
    else:
        values = np.fromstring(text, dtype=np.int64, sep=" ")  # only digits and white space, checked above
    if values.size % 2:
        raise RleError(f"RLE has an odd number of values ({values.size}); expected start/length pairs")
    if (values > MAX_PIXELS).any():
        i = int(np.flatnonzero(values > MAX_PIXELS)[0])
        raise RleError(f"RLE {_what(i)} '{int(values[i])}' at pair {i // 2 + 1} is {_TOO_LARGE}")
    lengths = values[1::2]
    if (lengths == 0).any():
        i = int(np.flatnonzero(lengths == 0)[0])
        raise RleError(f"RLE run {i + 1} has length 0")
    # Every value is in [0, 2**31] and a string holds far fewer than 2**32 of them: this sum cannot overflow.
    # Even positions are absolute run starts, odd ones absolute run ends.
    ends = np.cumsum(values)
    if int(ends[-1]) > MAX_PIXELS:
        i = int(np.flatnonzero(ends > MAX_PIXELS)[0])
        raise RleError(
            f"RLE {_what(i)} '{int(values[i])}' at pair {i // 2 + 1} takes the runs past pixel {MAX_PIXELS:,}, "
            "the largest image this reads"
        )
    return ends[0::2].copy(), lengths.copy()


def _what(i: int) -> str:
    return "length" if i % 2 else "start"


def _shown(token: str) -> str:
    """A token as an error message quotes it: printable, and cut short when it is very long."""
    return "'" + printable(token if len(token) <= 40 else token[:20] + "…" + token[-8:]) + "'"


def check_size(height: int, width: int) -> None:
    """Refuse a mask size that is not positive or larger than `MAX_PIXELS`, before anything is allocated."""
    if height <= 0 or width <= 0:
        raise RleError(f"image size must be positive, got {height}x{width}")
    if height * width > MAX_PIXELS:
        raise RleError(f"image size {height}x{width} is {_TOO_LARGE}")


def decode(rle: str, height: int, width: int) -> np.ndarray:
    """Decode one SIIM RLE string into a C-contiguous bool mask of shape (height, width), image orientation."""
    check_size(height, width)
    starts, lengths = parse(rle)
    mask = np.zeros((height, width), dtype=bool)
    if starts.size == 0:
        return mask
    total = height * width
    ends = starts + lengths
    if int(ends[-1]) > total:
        i = int(np.flatnonzero(ends > total)[0])
        raise RleError(
            f"RLE run {i + 1} (pixels {int(starts[i])}..{int(ends[i]) - 1}) runs past the end of a "
            f"{height}x{width} image ({total} pixels)"
        )
    n_set = int(lengths.sum())
    if n_set > total // 8:
        # Many set pixels: the per-pixel index arrays below would cost up to 32 bytes a pixel. Mark run edges in
        # a column-major int8 buffer and integrate instead (2 bytes a pixel whatever the mask).
        edges = np.zeros(total + 1, dtype=np.int8)
        edges[starts] = 1
        edges[ends] -= 1  # a run may start exactly where the previous one ended: the two marks cancel
        np.cumsum(edges, out=edges)
        mask[:] = edges[:total].view(bool).reshape(width, height).T
        return mask
    # Column-major flat index of every set pixel, then scatter into the row-major array. (Tried: per-column
    # segments + cumulative sum over the bounding box; slower for real masks and much slower for large ones.)
    offsets = np.cumsum(lengths) - lengths
    step = np.arange(n_set, dtype=np.int64)
    col0, row0 = np.divmod(starts, height)
    if (row0 + lengths <= height).all():  # the usual case: every run is a strip within one column
        mask[np.repeat(row0 - offsets, lengths) + step, np.repeat(col0, lengths)] = True
    else:
        col, row = np.divmod(step + np.repeat(starts - offsets, lengths), height)
        mask[row, col] = True
    return mask
