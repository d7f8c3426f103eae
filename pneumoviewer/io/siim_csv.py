"""SIIM-ACR mask CSVs: the training file (one row per instance) and submissions (one merged row per image).

Reading is tolerant of what circulates in the wild — ``ImageId, EncodedPixels`` with a leading space,
``ImageId,EncodedPixels``, a UTF-8 BOM, no header at all, `` -1`` with a space, blank lines, CRLF — and strict about
everything else: a malformed row raises `CsvError` naming the file and line, and nothing of a bad file is returned
(the whole file is parsed before a table is built). Each row's RLE string is kept exactly as read (stripped), so
overlapping or multi-component instances lose nothing; `RleTable.union_mask` merges them per image.

Writing is atomic (temp file + fsync + rename) and keeps the rows in the order given. The reader takes every row
the writer writes: a field may be as long as the file (the csv module's default 131,072-character limit would refuse
the RLE of a 1024² checkerboard, 2 MB). Error messages are `printable` (no control characters from the file).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumoviewer.core.text import printable
from pneumoviewer.io.atomic import atomic_write
from pneumoviewer.io.rle import EMPTY, RleError, check_size, decode, encode, encode_instances, parse

__all__ = ["CsvError", "RleTable", "mask_to_rows", "read_probabilities_csv", "read_rle_csv", "write_rle_csv"]

HEADER = ("ImageId", "EncodedPixels")


class CsvError(ValueError):
    """A malformed mask or probability CSV; ``.path`` and ``.line`` (1-based, or None) say where."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = printable(message)
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(printable(f"{where}: {message}"))


@dataclass
class RleTable:
    """The rows of one SIIM mask CSV, grouped by image (file order of first appearance)."""

    path: Path | None = None
    _rows: dict[str, list[str]] = field(default_factory=dict)
    _lines: dict[str, list[int]] = field(default_factory=dict)

    @property
    def image_ids(self) -> list[str]:
        return list(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    @property
    def n_rows(self) -> int:
        return sum(len(r) for r in self._rows.values())

    def rows(self, image_id: str) -> list[str]:
        """The RLE strings of this image as read ('-1' for a negative row); KeyError if the image is absent."""
        return list(self._rows[image_id])

    def is_positive(self, image_id: str) -> bool:
        return any(r != EMPTY for r in self._rows[image_id])

    def positive_ids(self) -> list[str]:
        return [i for i in self._rows if self.is_positive(i)]

    def union_mask(self, image_id: str, height: int, width: int) -> np.ndarray:
        """All rows of the image OR-ed into one bool mask; a run past the image raises CsvError with its line."""
        self._check_size(image_id, height, width)
        mask = np.zeros((height, width), dtype=bool)
        for rle, line in zip(self._rows[image_id], self._lines[image_id]):
            if rle == EMPTY:
                continue
            try:
                mask |= decode(rle, height, width)
            except RleError as exc:
                raise CsvError(self.path or "<table>", line, f"{image_id}: {exc}") from None
        return mask

    def instance_masks(self, image_id: str, height: int, width: int) -> list[np.ndarray]:
        """One mask per (positive) row, as annotated."""
        self._check_size(image_id, height, width)
        out = []
        for rle, line in zip(self._rows[image_id], self._lines[image_id]):
            if rle == EMPTY:
                continue
            try:
                out.append(decode(rle, height, width))
            except RleError as exc:
                raise CsvError(self.path or "<table>", line, f"{image_id}: {exc}") from None
        return out


    def first_line(self, image_id: str) -> int:
        """The file line of the image's first row (for error messages about the image as a whole)."""
        return self._lines[image_id][0]

    def _check_size(self, image_id: str, height: int, width: int) -> None:
        try:
            check_size(height, width)
        except RleError as exc:
            raise CsvError(self.path or "<table>", self.first_line(image_id), f"{image_id}: {exc}") from None


def _is_header(fields: list[str]) -> bool:
    return any(f.strip().lower() == "imageid" for f in fields)


def _csv_rows(p: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank CSV row; CsvError naming file and line for unreadable input."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CsvError(p, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvError(p, line, "not UTF-8 text") from None
    # The limit is process-wide: only ever raise it, to the length of this file (no field can be longer), so
    # every row the writer writes reads back (C long caps it on Windows).
    csv.field_size_limit(max(csv.field_size_limit(), min(len(text) + 1, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvError(p, reader.line_num, f"unreadable CSV row: {exc}") from None
        if fields and any(f.strip() for f in fields):
            yield reader.line_num, fields


def read_rle_csv(path: str | os.PathLike[str]) -> RleTable:
    """Parse a SIIM mask CSV (training or submission style); raises CsvError naming file and line."""
    p = Path(path)
    rows: dict[str, list[str]] = {}
    lines: dict[str, list[int]] = {}
    id_col, rle_col = 0, 1
    seen_content = False
    for line, fields in _csv_rows(p):
        if not seen_content:
            seen_content = True
            if _is_header(fields):
                names = [f.strip().lower() for f in fields]
                if "encodedpixels" not in names or "imageid" not in names:
                    raise CsvError(p, line, f"header has no EncodedPixels column: {','.join(fields)!r}")
                id_col, rle_col = names.index("imageid"), names.index("encodedpixels")
                continue
        needed = max(id_col, rle_col) + 1
        extra = [f for i, f in enumerate(fields) if i >= needed and f.strip()]
        if len(fields) < needed:
            raise CsvError(p, line, f"expected ImageId and EncodedPixels, got {len(fields)} field(s)")
        if extra:
            raise CsvError(p, line, f"unexpected extra field(s): {', '.join(repr(e) for e in extra)}")
        image_id = fields[id_col].strip()
        rle = fields[rle_col].strip() or EMPTY
        if not image_id:
            raise CsvError(p, line, "empty ImageId")
        try:
            parse(rle)
        except RleError as exc:
            raise CsvError(p, line, f"{image_id}: {exc}") from None
        prev = rows.setdefault(image_id, [])
        if prev and (rle == EMPTY) != (prev[0] == EMPTY):
            first = lines[image_id][0]
            raise CsvError(p, line, f"{image_id} is marked both negative (-1) and positive (see line {first})")
        prev.append(rle)
        lines.setdefault(image_id, []).append(line)
    return RleTable(path=p, _rows=rows, _lines=lines)


def mask_to_rows(image_id: str, mask: np.ndarray, style: str = "train") -> list[tuple[str, str]]:
    """Rows for one image: ``train`` = one per 8-connected component, ``submission`` = one merged row.

    An empty mask gives one ``-1`` row in both styles.
    """
    if style == "train":
        parts = encode_instances(mask)
        return [(image_id, s) for s in parts] if parts else [(image_id, EMPTY)]
    if style == "submission":
        return [(image_id, encode(mask))]
    raise ValueError(f"style must be 'train' or 'submission', got {style!r}")


def image_id_problem(image_id: str) -> str | None:
    """Why ``image_id`` cannot be a field of a SIIM CSV (empty, comma, quote, line break), or None when it can."""
    if not image_id:
        return "empty ImageId"
    bad = sorted({c for c in image_id if c in ',"\r\n'})
    if bad:
        shown = image_id if len(image_id) <= 80 else image_id[:77] + "..."
        return f"ImageId {shown!r} cannot be written to a SIIM CSV (contains {', '.join(map(repr, bad))})"
    return None


def write_rle_csv(path: str | os.PathLike[str], rows: Iterable[tuple[str, str]], *, siim_spacing: bool = False) -> int:
    """Write rows atomically in the order given; returns the number of rows.

    The header is ``ImageId,EncodedPixels``; ``siim_spacing=True`` reproduces the challenge's training file
    byte for byte style (``ImageId, EncodedPixels`` and ``, `` between the fields).
    """
    sep = ", " if siim_spacing else ","
    checked: list[tuple[str, str]] = []
    for image_id, rle in rows:
        if image_id_problem(image_id) is not None:
            raise ValueError(f"ImageId {image_id!r} cannot be written to a SIIM CSV")
        rle = rle.strip() or EMPTY
        parse(rle)  # never write a string we would refuse to read
        checked.append((image_id, rle))
    with atomic_write(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(sep.join(HEADER) + "\n")
        for image_id, rle in checked:
            fh.write(f"{image_id}{sep}{rle}\n")
    return len(checked)


def write_probabilities_csv(path: str | os.PathLike[str], probabilities: Iterable[tuple[str, float]]) -> int:
    """``ImageId,probability`` rows, atomically, in the order given (what `read_probabilities_csv` reads back)."""
    rows = [(image_id, float(p)) for image_id, p in probabilities]
    with atomic_write(path, "w", newline="", encoding="utf-8") as fh:
        fh.write("ImageId,probability\n")
        for image_id, p in rows:
            fh.write(f"{image_id},{p:.6f}\n")
    return len(rows)


def read_probabilities_csv(path: str | os.PathLike[str]) -> dict[str, float]:
    """``ImageId,probability`` rows (header optional) → {image_id: probability in [0, 1]}; CsvError on bad rows."""
    p = Path(path)
    out: dict[str, float] = {}
    first_line: dict[str, int] = {}
    id_col, prob_col = 0, 1
    seen = False
    for line, fields in _csv_rows(p):
        if not seen:
            seen = True
            if _is_header(fields):
                names = [f.strip().lower() for f in fields]
                cands = [i for i, n in enumerate(names) if n in ("probability", "prob", "score", "p")]
                if not cands:
                    raise CsvError(p, line, "header has no 'probability' column")
                id_col, prob_col = names.index("imageid"), cands[0]
                continue
        if len(fields) <= max(id_col, prob_col):
            raise CsvError(p, line, "expected ImageId and probability")
        image_id = fields[id_col].strip()
        if not image_id:
            raise CsvError(p, line, "empty ImageId")
        try:
            value = float(fields[prob_col])
        except ValueError:
            raise CsvError(p, line, f"probability {fields[prob_col].strip()!r} is not a number") from None
        if not (0.0 <= value <= 1.0):
            raise CsvError(p, line, f"probability {value} is outside [0, 1]")
        if image_id in out:
            raise CsvError(p, line, f"{image_id} appears twice (first on line {first_line[image_id]})")
        out[image_id] = value
        first_line[image_id] = line
    return out
