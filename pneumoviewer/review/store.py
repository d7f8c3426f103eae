"""The review store: one sqlite3 database per opened folder, written through on every change.

Durability: WAL journal with ``synchronous=FULL`` and one transaction per public call, so *a call that returned
has been committed durably* (the WAL is fsynced before the call returns); a crash or SIGKILL loses nothing that was
reported saved. There is no save action.

Location: ``<folder>/.pneumoviewer/review.sqlite`` when the folder is writable, otherwise
``<user data>/review-stores/<hash of the folder path>/review.sqlite`` (read-only media, shared archives).

Per image it keeps the AI result (``original``: probability, mask RLE, model name/version) apart from the
reviewer's mask (``final``), the status, reviewer, comment and timestamps, the rows an imported CSV brought (so an
unedited image exports exactly the rows it came with), an optional reference layer, and a journal of every change.
Masks are stored as SIIM RLE strings with the image's height and width. No patient names or IDs are stored.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from pneumoviewer.core.paths import user_data_dir
from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.review.schema import migrate

STORE_DIRNAME = ".pneumoviewer"
STORE_FILENAME = "review.sqlite"
REVIEWED = frozenset({ReviewStatus.ACCEPTED, ReviewStatus.CORRECTED, ReviewStatus.NEGATIVE})


class ReviewStoreError(RuntimeError):
    """A review action that cannot be done (unknown image size, no AI result to accept, …)."""


@dataclass(frozen=True)
class FinalEntry:
    """One image's reviewer mask as stored, for exports (RLE, not decoded)."""

    image_id: str
    status: ReviewStatus
    height: int
    width: int
    final_rle: str
    import_rows: list[str] | None  # the imported rows while the image is unedited, else None
    reviewer: str | None
    ai_model: ModelInfo | None
    final_is_ai: bool  # the final mask is exactly the AI mask (accepted)
    layer: str = "final"  # "original": this entry carries the AI mask in `final_rle` (export of the AI layer)


@dataclass(frozen=True)
class ReviewRecord:
    """One image's review state, for the worklist (no masks: cheap to list thousands)."""

    image_id: str
    status: ReviewStatus
    height: int | None
    width: int | None
    reviewer: str | None
    comment: str | None
    created: float
    updated: float
    ai_probability: float | None
    ai_model: ModelInfo | None
    has_ai_mask: bool
    has_final: bool
    final_from_import: bool


def default_reviewer() -> str:
    """Reviewer name when the app does not pass one: $PNEUMOVIEWER_REVIEWER, else the login name."""
    env = os.environ.get("PNEUMOVIEWER_REVIEWER")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): stay anonymous rather than fail
        return "reviewer"


def store_path_for(folder: str | os.PathLike[str]) -> Path:
    """Where the store of `folder` lives (inside the folder when writable, else in the user data folder)."""
    root = Path(folder).resolve()
    inside = root / STORE_DIRNAME / STORE_FILENAME
    if inside.exists() and os.access(inside, os.W_OK) and os.access(inside.parent, os.W_OK):
        return inside
    fallback = _fallback_path(root)
    if fallback.is_file():  # the folder was read-only when the store was made: keep using that store
        return fallback
    if _writable_dir(root / STORE_DIRNAME):
        return inside
    return fallback


def _fallback_path(root: Path) -> Path:
    key = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:20]
    return user_data_dir() / "review-stores" / key / STORE_FILENAME


def existing_store_path(folder: str | os.PathLike[str]) -> Path | None:
    """The store of `folder` if one exists already (creates nothing), else None."""
    root = Path(folder).resolve()
    for candidate in (root / STORE_DIRNAME / STORE_FILENAME, _fallback_path(root)):
        if candidate.is_file():
            return candidate
    return None


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def _decode_union(rows: Iterable[str], height: int, width: int) -> np.ndarray:
    """The union mask of an image's RLE rows (an instance each, or '-1')."""
    out = np.zeros((height, width), dtype=bool)
    for text in rows:
        out |= rle.decode(text, height, width)
    return out


def _now() -> float:
    return time.time()


class ReviewStore:
    """Review state of one folder. Thread-safe (one lock); use from the GUI thread or a worker alike."""

    def __init__(
        self, path: str | os.PathLike[str], *, folder: Path | None = None, reviewer: str | None = None
    ) -> None:
        self.path = Path(path)
        self.folder = folder
        self.reviewer = reviewer or default_reviewer()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self._closed = False
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so a returned call survives power loss, not only a crash
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=30000")
        migrate(self._conn)
        if folder is not None:
            with self._tx() as c:
                c.execute("INSERT OR IGNORE INTO state(key, value) VALUES ('folder', ?)", (str(folder),))

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, reviewer: str | None = None) -> ReviewStore:
        """Open (creating if needed) the store of an image folder."""
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"not a folder: {root}")
        return cls(store_path_for(root), folder=root, reviewer=reviewer)

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction; committed (and fsynced) when the block exits."""
        with self._lock:
            if self._closed:
                raise ReviewStoreError(f"review store {self.path} is closed")
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def _journal(self, c: sqlite3.Connection, image_id: str | None, action: str, detail: Any = None) -> None:
        text = None if detail is None else (detail if isinstance(detail, str) else json.dumps(detail))
        c.execute(
            "INSERT INTO journal(ts, image_id, action, detail, reviewer) VALUES (?, ?, ?, ?, ?)",
            (_now(), image_id, action, text, self.reviewer),
        )

    def _ensure(
        self, c: sqlite3.Connection, image_id: str, height: int | None = None, width: int | None = None
    ) -> None:
        now = _now()
        c.execute(
            "INSERT OR IGNORE INTO images(image_id, height, width, created, updated) VALUES (?, ?, ?, ?, ?)",
            (image_id, height, width, now, now),
        )
        if height is not None and width is not None:
            row = c.execute("SELECT height, width FROM images WHERE image_id=?", (image_id,)).fetchone()
            if row[0] is None or row[1] is None:
                c.execute("UPDATE images SET height=?, width=? WHERE image_id=?", (height, width, image_id))
            elif (row[0], row[1]) != (height, width):
                raise ReviewStoreError(
                    f"image {image_id} is {row[0]}x{row[1]} in the review store, got a {height}x{width} mask"
                )

    def _size(self, c: sqlite3.Connection, image_id: str) -> tuple[int, int] | None:
        row = c.execute("SELECT height, width FROM images WHERE image_id=?", (image_id,)).fetchone()
        if row is None or row[0] is None or row[1] is None:
            return None
        return int(row[0]), int(row[1])

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close. Safe to call twice."""
        with self._lock:
            if getattr(self, "_closed", True):
                return
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._closed = True

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ------------------------------------------------------------------ images

    def register_image(self, image_id: str, height: int, width: int) -> None:
        """Make an image known with its size (from the folder index), so negatives/imports can be decoded."""
        with self._tx() as c:
            self._ensure(c, image_id, int(height), int(width))

    def register_images(self, sizes: Iterable[tuple[str, int, int]]) -> None:
        """Many :meth:`register_image` calls in one transaction (a whole folder index)."""
        with self._tx() as c:
            for image_id, h, w in sizes:
                self._ensure(c, image_id, int(h), int(w))

    def image_size(self, image_id: str) -> tuple[int, int] | None:
        with self._lock:
            return self._size(self._conn, image_id)

    def image_ids(self) -> list[str]:
        """Known images in the order they were first seen (worklist/import order)."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT image_id FROM images ORDER BY rowid")]

    def __contains__(self, image_id: object) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM images WHERE image_id=?", (image_id,)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    # ------------------------------------------------------------------ AI result ("original")

    def set_ai_result(self, prediction: Prediction) -> None:
        """Store the AI result as `original` (the reviewer's `final` mask is never touched by this)."""
        mask = np.asarray(prediction.mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"prediction mask must be 2-D, got {mask.shape}")
        h, w = mask.shape
        m = prediction.model
        with self._tx() as c:
            self._ensure(c, prediction.image_id, h, w)
            c.execute(
                """UPDATE images SET ai_probability=?, ai_rle=?, ai_model_name=?, ai_model_version=?,
                   ai_model_synthetic=?, ai_device=?, ai_updated=? WHERE image_id=?""",
                (
                    float(prediction.probability),
                    rle.encode(mask),
                    m.name,
                    m.version,
                    int(bool(m.synthetic)),
                    prediction.device,
                    _now(),
                    prediction.image_id,
                ),
            )
            self._journal(c, prediction.image_id, "ai", {"model": m.name, "version": m.version})

    def ai_result(self, image_id: str) -> Prediction | None:
        """The stored AI result (mask decoded at the image size), or None."""
        with self._lock:
            row = self._conn.execute(
                """SELECT height, width, ai_probability, ai_rle, ai_model_name, ai_model_version, ai_model_synthetic,
                   ai_device FROM images WHERE image_id=?""",
                (image_id,),
            ).fetchone()
        if row is None or row[3] is None:
            return None
        h, w, p, text, name, version, synthetic, device = row
        return Prediction(
            image_id=image_id,
            probability=float(p) if p is not None else float("nan"),
            mask=rle.decode(text, h, w),
            model=ModelInfo(name or "", version or "", bool(synthetic)),
            device=device or "CPU",
        )

    def original_mask(self, image_id: str) -> np.ndarray | None:
        pred = self.ai_result(image_id)
        return None if pred is None else pred.mask

    # ------------------------------------------------------------------ reviewer mask ("final")

    def set_final_mask(
        self, image_id: str, mask: np.ndarray, *, status: ReviewStatus | str | None = ReviewStatus.CORRECTED
    ) -> bool:
        """Save the reviewer's mask (durable on return). Returns False when it equals the stored final mask.

        An actual change sets the status to `status` (default *corrected*: any edit is a correction; pass
        ``status=None`` to leave the status alone) and drops the imported rows (the image is no longer unedited).
        """
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D, got {mask.shape}")
        h, w = mask.shape
        text = rle.encode(mask)
        with self._tx() as c:
            self._ensure(c, image_id, h, w)
            row = c.execute("SELECT final_rle FROM images WHERE image_id=?", (image_id,)).fetchone()
            if row[0] is not None and row[0] == text:
                return False
            now = _now()
            c.execute(
                "UPDATE images SET final_rle=?, final_updated=?, final_from_import=0, updated=?, reviewer=? "
                "WHERE image_id=?",
                (text, now, now, self.reviewer, image_id),
            )
            if status is not None:
                c.execute("UPDATE images SET status=? WHERE image_id=?", (ReviewStatus(status).value, image_id))
            self._journal(c, image_id, "final", {"pixels": int(np.count_nonzero(mask))})
        return True

    def starting_mask(self, image_id: str) -> np.ndarray | None:
        """What the editor should open with: the final mask, else the AI mask, else an empty mask of the known
        size, else None (size unknown)."""
        final = self.final_mask(image_id)
        if final is not None:
            return final
        original = self.original_mask(image_id)
        if original is not None:
            return original
        size = self.image_size(image_id)
        return None if size is None else np.zeros(size, dtype=bool)

    def autosave(self, image_id: str, document: Any) -> Callable[[], None]:
        """Persist ``document.mask`` as the final mask after every committed history step of a
        :class:`~pneumoviewer.editing.MaskDocument` (stroke end, click edit, undo, redo, ``set_mask``).

        Each save is durable when the editing call returns. Returns the unsubscribe function (call it when the
        image is closed). Duck-typed (``subscribe_committed`` + ``mask``) so the store does not depend on editing.
        """

        def _save(_label: str) -> None:
            self.set_final_mask(image_id, document.mask)

        return document.subscribe_committed(_save)

    def final_mask(self, image_id: str) -> np.ndarray | None:
        """The reviewer's mask, or None if the image has none yet."""
        with self._lock:
            row = self._conn.execute(
                "SELECT height, width, final_rle FROM images WHERE image_id=?", (image_id,)
            ).fetchone()
        if row is None or row[2] is None:
            return None
        return rle.decode(row[2], int(row[0]), int(row[1]))

    def final_rle(self, image_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT final_rle FROM images WHERE image_id=?", (image_id,)).fetchone()
        return None if row is None else row[0]

    def import_rows(self, image_id: str) -> list[str] | None:
        """The raw rows the final mask was imported from, while the image is unedited; else None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT import_rows, final_from_import FROM images WHERE image_id=?", (image_id,)
            ).fetchone()
        if row is None or row[0] is None or not row[1]:
            return None
        return list(json.loads(row[0]))

    def final_entries(self, *, only_reviewed: bool = False, layer: str = "final") -> list[FinalEntry]:
        """Every image that has a final mask (optionally only accepted/corrected/negative), in store order.

        ``layer="original"`` lists the AI masks instead (in ``final_rle``), for exporting what the model said.
        """
        if layer not in ("final", "original"):
            raise ValueError(f"layer must be 'final' or 'original', got {layer!r}")
        column = "final_rle" if layer == "final" else "ai_rle"
        sql = (
            f"SELECT image_id, status, height, width, {column}, import_rows, final_from_import, reviewer, "
            f"ai_model_name, ai_model_version, ai_model_synthetic, ai_rle, final_rle FROM images "
            f"WHERE {column} IS NOT NULL"
        )
        params: tuple = ()
        if only_reviewed:
            sql += " AND status IN (?, ?, ?)"
            params = tuple(s.value for s in (ReviewStatus.ACCEPTED, ReviewStatus.CORRECTED, ReviewStatus.NEGATIVE))
        sql += " ORDER BY rowid"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        out = []
        for r in rows:
            model = ModelInfo(r[8] or "", r[9] or "", bool(r[10])) if r[8] is not None else None
            imported = list(json.loads(r[5])) if (r[5] is not None and r[6] and layer == "final") else None
            out.append(
                FinalEntry(
                    image_id=r[0],
                    status=ReviewStatus(r[1]),
                    height=int(r[2]),
                    width=int(r[3]),
                    final_rle=r[4],
                    import_rows=imported,
                    reviewer=r[7],
                    ai_model=model,
                    final_is_ai=layer == "original" or (r[11] is not None and r[11] == r[12]),
                    layer=layer,
                )
            )
        return out

    # ------------------------------------------------------------------ status and review actions

    def set_status(self, image_id: str, status: ReviewStatus | str, comment: str | None = None) -> None:
        """Set the review status (and optionally the comment); durable on return."""
        st = ReviewStatus(status)
        with self._tx() as c:
            self._ensure(c, image_id)
            now = _now()
            if comment is None:
                c.execute(
                    "UPDATE images SET status=?, reviewer=?, updated=? WHERE image_id=?",
                    (st.value, self.reviewer, now, image_id),
                )
            else:
                c.execute(
                    "UPDATE images SET status=?, comment=?, reviewer=?, updated=? WHERE image_id=?",
                    (st.value, comment, self.reviewer, now, image_id),
                )
            self._journal(c, image_id, "status", {"status": st.value, "comment": comment})

    def status(self, image_id: str) -> ReviewStatus:
        """The review status; *unreviewed* for an image the store has never seen."""
        with self._lock:
            row = self._conn.execute("SELECT status FROM images WHERE image_id=?", (image_id,)).fetchone()
        return ReviewStatus(row[0]) if row else ReviewStatus.UNREVIEWED

    def comment(self, image_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT comment FROM images WHERE image_id=?", (image_id,)).fetchone()
        return row[0] if row else None

    def set_comment(self, image_id: str, comment: str | None) -> None:
        with self._tx() as c:
            self._ensure(c, image_id)
            c.execute("UPDATE images SET comment=?, updated=? WHERE image_id=?", (comment, _now(), image_id))
            self._journal(c, image_id, "comment", comment)

    def statuses(self) -> dict[str, ReviewStatus]:
        """Every known image's status (for the worklist column and its filter)."""
        with self._lock:
            return {r[0]: ReviewStatus(r[1]) for r in self._conn.execute("SELECT image_id, status FROM images")}

    def accept_ai(self, image_id: str) -> np.ndarray:
        """Accept the AI mask: final = original, status *accepted*. Returns the accepted mask."""
        with self._tx() as c:
            row = c.execute("SELECT height, width, ai_rle FROM images WHERE image_id=?", (image_id,)).fetchone()
            if row is None or row[2] is None:
                raise ReviewStoreError(f"image {image_id} has no AI result to accept")
            now = _now()
            c.execute(
                "UPDATE images SET final_rle=ai_rle, final_updated=?, final_from_import=0, status=?, reviewer=?, "
                "updated=? WHERE image_id=?",
                (now, ReviewStatus.ACCEPTED.value, self.reviewer, now, image_id),
            )
            self._journal(c, image_id, "accept_ai")
        return rle.decode(row[2], int(row[0]), int(row[1]))

    def mark_negative(self, image_id: str, shape: tuple[int, int] | None = None) -> None:
        """No pneumothorax: final = empty mask, status *negative*. Needs the image size (known or `shape`)."""
        with self._tx() as c:
            if shape is not None:
                self._ensure(c, image_id, int(shape[0]), int(shape[1]))
            size = self._size(c, image_id)
            if size is None:
                raise ReviewStoreError(f"size of image {image_id} unknown; register it or pass shape=")
            now = _now()
            c.execute(
                "UPDATE images SET final_rle=?, final_updated=?, final_from_import=0, status=?, reviewer=?, "
                "updated=? WHERE image_id=?",
                (rle.EMPTY, now, ReviewStatus.NEGATIVE.value, self.reviewer, now, image_id),
            )
            self._journal(c, image_id, "negative")

    def flag(self, image_id: str, comment: str) -> None:
        """Flag for a second look, with a comment saying why."""
        self.set_status(image_id, ReviewStatus.FLAGGED, comment=comment)

    def mark_unreviewed(self, image_id: str) -> None:
        """Reset the status (the masks stay)."""
        self.set_status(image_id, ReviewStatus.UNREVIEWED)

    # ------------------------------------------------------------------ records for the worklist

    def record(self, image_id: str) -> ReviewRecord | None:
        recs = self._records("WHERE image_id=?", (image_id,))
        return recs.get(image_id)

    def records(self) -> dict[str, ReviewRecord]:
        return self._records("", ())

    def _records(self, where: str, params: tuple) -> dict[str, ReviewRecord]:
        sql = (
            "SELECT image_id, status, height, width, reviewer, comment, created, updated, ai_probability, "
            "ai_model_name, ai_model_version, ai_model_synthetic, ai_rle IS NOT NULL, final_rle IS NOT NULL, "
            f"final_from_import FROM images {where}"
        )
        out = {}
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        for r in rows:
            model = ModelInfo(r[9] or "", r[10] or "", bool(r[11])) if r[9] is not None else None
            out[r[0]] = ReviewRecord(
                image_id=r[0],
                status=ReviewStatus(r[1]),
                height=r[2],
                width=r[3],
                reviewer=r[4],
                comment=r[5],
                created=r[6],
                updated=r[7],
                ai_probability=r[8],
                ai_model=model,
                has_ai_mask=bool(r[12]),
                has_final=bool(r[13]),
                final_from_import=bool(r[14]),
            )
        return out

    # ------------------------------------------------------------------ worklist position

    def set_position(self, image_id: str | None) -> None:
        """Remember the current image so reopening the folder returns to it."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('position', ?)", (image_id,))

    def position(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key='position'").fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str | None) -> None:
        """Small per-folder UI state (sort order, filter); not for masks."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", (f"ui.{key}", value))

    def state(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key=?", (f"ui.{key}",)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ imports and the reference layer

    def import_final_rows(
        self,
        rows_by_image: Mapping[str, list[str]],
        sizes: Mapping[str, tuple[int, int]],
        source: str,
        *,
        union_rles: Mapping[str, str] | None = None,
    ) -> int:
        """Start final masks from imported CSV rows, all in one transaction; returns the number of images.

        Images that already have a reviewer-edited final mask keep it (an import never overwrites work).
        The raw rows are kept and exported verbatim while the image stays unedited. All rows are decoded first:
        any bad row raises before anything is written. `union_rles` (optional): each image's rows already decoded,
        OR-ed and encoded by the caller (the CSV importer decodes them to name a bad row's line), so they are not
        decoded twice.
        """
        prepared = []
        for image_id, rows in rows_by_image.items():
            h, w = sizes[image_id]
            union_rle = union_rles[image_id] if union_rles is not None else rle.encode(_decode_union(rows, h, w))
            prepared.append((image_id, h, w, list(rows), union_rle))
        n = 0
        with self._tx() as c:
            for image_id, h, w, rows, union_rle in prepared:
                self._ensure(c, image_id, h, w)
                cur = c.execute(
                    "SELECT final_rle, final_from_import FROM images WHERE image_id=?", (image_id,)
                ).fetchone()
                if cur[0] is not None and not cur[1]:
                    continue
                now = _now()
                c.execute(
                    "UPDATE images SET final_rle=?, final_updated=?, import_rows=?, import_source=?, "
                    "final_from_import=1, updated=? WHERE image_id=?",
                    (union_rle, now, json.dumps(rows), source, now, image_id),
                )
                n += 1
            self._journal(c, None, "import_final", {"source": source, "images": n})
        return n

    def import_reference_rows(
        self, rows_by_image: Mapping[str, list[str]], sizes: Mapping[str, tuple[int, int]], source: str
    ) -> int:
        """Store CSV rows as the reference layer (truth or someone's predictions), replacing the old layer."""
        for image_id, rows in rows_by_image.items():  # validate everything before writing anything
            h, w = sizes[image_id]
            for text in rows:
                rle.decode(text, h, w)
        with self._tx() as c:
            c.execute("DELETE FROM reference")
            now = _now()
            for image_id, rows in rows_by_image.items():
                h, w = sizes[image_id]
                self._ensure(c, image_id, h, w)
                c.execute(
                    "INSERT INTO reference(image_id, rows, source, imported) VALUES (?, ?, ?, ?)",
                    (image_id, json.dumps(list(rows)), source, now),
                )
            self._journal(c, None, "import_reference", {"source": source, "images": len(rows_by_image)})
        return len(rows_by_image)

    def reference_rows(self, image_id: str) -> list[str] | None:
        with self._lock:
            row = self._conn.execute("SELECT rows FROM reference WHERE image_id=?", (image_id,)).fetchone()
        return None if row is None else list(json.loads(row[0]))

    def reference_mask(self, image_id: str) -> np.ndarray | None:
        """The reference layer's mask (union of its rows), or None if the image has no reference."""
        rows = self.reference_rows(image_id)
        size = self.image_size(image_id)
        if rows is None or size is None:
            return None
        return _decode_union(rows, *size)

    def reference_source(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT source FROM reference LIMIT 1").fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ journal

    def journal(self, image_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest changes, newest first (what changed when, by whom)."""
        sql = "SELECT ts, image_id, action, detail, reviewer FROM journal"
        params: tuple = ()
        if image_id is not None:
            sql += " WHERE image_id=?"
            params = (image_id,)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, int(limit))).fetchall()
        return [{"ts": r[0], "image_id": r[1], "action": r[2], "detail": r[3], "reviewer": r[4]} for r in rows]
