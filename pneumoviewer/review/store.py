"""The review store: one sqlite3 database per opened folder, written through on every change.

Durability: WAL journal with ``synchronous=FULL`` and one transaction per public call, so *a call that returned
has been committed durably* (the WAL is fsynced before the call returns); a crash or SIGKILL loses nothing that was
reported saved. There is no save action.

Nothing is lost silently (:attr:`ReviewStore.outcome` says what happened, for a dialog or banner):

* **Damaged** (not a database, malformed pages, 0 bytes; checked with ``PRAGMA quick_check`` at every open): the
  file is moved aside to ``review.sqlite.corrupt-<time>`` (with its ``-wal``/``-shm``) and a new, empty store starts.
* **Read-only** (writes raise :class:`StoreReadOnlyError`): a store written by a newer PneumoViewer, a store path
  that is a folder, a store another instance holds, a place that cannot be written. Such a store is never changed.
* **One writer per store**: an exclusive OS lock on ``review.sqlite.lock`` that names host, user, pid and since
  when; a second instance opens read-only and :attr:`OpenOutcome.holder` says who has it. The OS drops the lock when
  its process dies, so a lock left by a crashed instance is taken over.
* **A write that fails** (disk full, I/O error) raises :class:`StoreWriteError` and the change stays in memory, in
  order with every later write, until :meth:`ReviewStore.retry_unsaved` commits them all.

Location: ``<folder>/.pneumoviewer/review.sqlite`` when the folder is writable; otherwise the per-user store
``<user data>/review-stores/<hash of the folder path>/review.sqlite``. A read-only folder that holds its own store
(an archive, a colleague's share): that store is read read-only (``mode=ro``, ``immutable=1`` when its ``-shm``
cannot be made) and copied once into the per-user store, where new work goes; the folder's store is never written.
Once a folder's work lives in the per-user store it stays there. ``open(folder, read_only=True)`` (export, evaluate)
reads the same store and creates nothing.

Per image it keeps the AI results (``original``: probability, mask RLE and area, model name/version) apart from
the reviewer's mask (``final``, with its training-CSV component rows, made once when it is written), the status,
reviewer, comment and timestamps, the source file's identity the mask was drawn on, the rows an imported CSV
brought (so an unedited image exports exactly the rows it came with), an optional reference layer, and a journal of
every change. Masks are stored as SIIM RLE strings with the image's
height and width. No patient names or IDs are stored.

**AI results per model** (issue 10): one result per (image, bundle sha256), so results of different models are kept
apart — switching models and back shows the first model's results again, and no AI write ever touches the final
mask or the status. ``''`` is the key of a bundle of unknown identity (a test engine, results stored before the
sha256 was recorded); such results share one slot per image. Readers that name no model (``model_sha256=None``:
``records``, ``original_mask``, ``final_entries(layer="original")``, ``accept_ai``, hence ``export`` and
``evaluate``) take, per image, the result of the folder's **current model** (:meth:`ReviewStore.ai_model`, recorded
by the review app when a model is chosen) and, where that model has none, the image's newest result.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import enum
import errno
import functools
import getpass
import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import numpy as np

from pneumoviewer.core.paths import user_data_dir
from pneumoviewer.core.types import MaskLayer, ModelInfo, Prediction, ReviewStatus, SourceIdentity
from pneumoviewer.io import rle
from pneumoviewer.review.schema import SCHEMA_VERSION, component_rows, migrate, schema_version

log = logging.getLogger(__name__)

STORE_DIRNAME = ".pneumoviewer"
STORE_FILENAME = "review.sqlite"
REVIEWED = frozenset({ReviewStatus.ACCEPTED, ReviewStatus.CORRECTED, ReviewStatus.NEGATIVE})
_STATUS_BY_VALUE = {s.value: s for s in ReviewStatus}
_SQLITE_HEADER = b"SQLite format 3\x00"


class ReviewStoreError(RuntimeError):
    """A review action that cannot be done (unknown image size, no AI result to accept, …)."""


class StoreReadOnlyError(ReviewStoreError):
    """A write on a store that opened read-only; the message says why (``ReviewStore.outcome.message``)."""


class StoreWriteError(ReviewStoreError):
    """A write the disk refused (full, I/O error). The change is kept: see :meth:`ReviewStore.retry_unsaved`."""

    def __init__(self, message: str, unsaved: int) -> None:
        super().__init__(message)
        self.unsaved = unsaved  # changes held in memory, this one included


class StoreNotFoundError(ReviewStoreError, FileNotFoundError):
    """A read-only use (export, evaluate) of a folder that has no review store: nothing is created."""


class StoreUnreadableError(ReviewStoreError, OSError):
    """A read-only use of a store that cannot be read (damaged, not a file): refused, and the file is left as is."""


class StoreIssue(str, enum.Enum):
    """Why a store did not open as a plain read-write store (the GUI shows :attr:`OpenOutcome.message`)."""

    DAMAGED = "damaged"  # moved aside and replaced by a new empty store (or, if it could not be moved, read-only)
    NEWER_SCHEMA = "newer-schema"  # written by a newer PneumoViewer: read-only
    NOT_A_FILE = "not-a-file"  # the store path is a folder or other non-file: read-only, empty
    LOCKED = "locked"  # another instance holds the store: read-only (``holder`` says who)
    READ_ONLY_FOLDER = "read-only-folder"  # the folder's own store was copied to the per-user store (writable)
    UNWRITABLE = "unwritable"  # the store's place cannot be written: read-only


@dataclass(frozen=True)
class LockInfo:
    """Who holds a store's write lock."""

    host: str
    user: str
    pid: int
    since: float  # epoch seconds

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since)) if self.since else "an unknown time"
        return f"{self.user} on {self.host} (process {self.pid}) since {when}"


@dataclass(frozen=True)
class OpenOutcome:
    """How a store opened: writable or not, and why (one sentence in ``message`` for a dialog/banner)."""

    path: Path  # the store file in use (for a placeholder: the file that could not be used)
    read_only: bool
    reason: StoreIssue | None = None
    message: str = ""
    moved_aside_to: Path | None = None  # DAMAGED: where the damaged file went
    holder: LockInfo | None = None  # LOCKED: who has the store
    copied_from: Path | None = None  # READ_ONLY_FOLDER: the folder's own store this one started from


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
    layer: MaskLayer = MaskLayer.FINAL  # ORIGINAL: this entry carries the AI mask in `final_rle`
    source: SourceIdentity | None = None  # the source file the reviewer's mask was drawn on, if recorded
    components: tuple[str, ...] | None = None  # `final_rle`'s 8-connected components as RLE rows, when stored


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


class StoredAi(NamedTuple):
    """One stored AI result without its mask: what the worklist and "is this result current" need."""

    probability: float
    mask_area: int  # pixels in the AI mask
    model: ModelInfo
    model_sha256: str | None  # the bundle's sha256 when the caller recorded it


class StoredModel(NamedTuple):
    """A model with results in the store: which one (``model.sha256``: None when unknown), how many, how recent."""

    model: ModelInfo
    results: int
    updated: float  # epoch seconds of its newest result


def _key(model_sha256: str | None) -> str:
    """The ``ai_results.model_sha256`` key of a bundle ('' when its identity is unknown)."""
    return model_sha256 or ""


def _model(name: str | None, version: str | None, synthetic: Any, key: str) -> ModelInfo:
    return ModelInfo(name or "", version or "", bool(synthetic), sha256=key or None)


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
    """Where the store of `folder` is written: the per-user store once one exists for the folder (its work moved
    there while the folder was read-only), else inside the folder when that can be written, else the per-user one."""
    root = Path(folder).resolve()
    fallback = _fallback_path(root)
    if fallback.is_file():
        return fallback
    inside = root / STORE_DIRNAME / STORE_FILENAME
    if inside.exists():
        writable = os.access(inside.parent, os.W_OK) and (not inside.is_file() or os.access(inside, os.W_OK))
        return inside if writable else fallback
    return inside if _writable_dir(root / STORE_DIRNAME) else fallback


def _fallback_path(root: Path) -> Path:
    key = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:20]
    return user_data_dir() / "review-stores" / key / STORE_FILENAME


def existing_store_path(folder: str | os.PathLike[str]) -> Path | None:
    """The store of `folder` if one exists already (creates nothing), else None; same precedence as
    :func:`store_path_for`."""
    root = Path(folder).resolve()
    for candidate in (_fallback_path(root), root / STORE_DIRNAME / STORE_FILENAME):
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


# ---------------------------------------------------------------------------------------------------- file checks


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _integrity_problem(conn: sqlite3.Connection) -> str | None:
    """None when `conn`'s database passes ``PRAGMA quick_check``, else what is wrong (first few findings)."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    findings = [str(r[0]) for r in rows]
    return None if findings == ["ok"] else "; ".join(findings[:3])


def _empty_file_problem(path: Path) -> str | None:
    """A store file of 0 bytes (with no WAL to recover from) or one that is not sqlite at all."""
    try:
        size = path.stat().st_size
        if size == 0:
            wal = _sidecar(path, "-wal")
            return None if wal.is_file() and wal.stat().st_size > 0 else "the file is empty (0 bytes)"
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except OSError:
        return None  # unreadable: sqlite says why when it opens the file
    return None if head == _SQLITE_HEADER else "the file is not a review store (no sqlite header)"


def _move_aside(path: Path) -> Path:
    """Rename a damaged store (and its -wal/-shm) to ``<name>.corrupt-<time>[-n]``; returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.rename(path, target)
    for suffix in ("-wal", "-shm"):
        side = _sidecar(path, suffix)
        if side.exists():
            os.rename(side, _sidecar(target, suffix))
    return target


def _connect_rw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection: ``mode=ro``, or ``immutable=1`` when the -shm cannot be made (a read-only folder,
    where no writer can be at work either)."""
    uri = path.resolve().as_uri()
    wal, shm = _sidecar(path, "-wal"), _sidecar(path, "-shm")
    if not shm.exists() and (not wal.exists() or wal.stat().st_size == 0):
        # No connection has the store open (a WAL writer always keeps its -shm) and nothing waits in a WAL: read
        # it as immutable, which creates no -wal/-shm beside it, so a read-only use leaves the folder unchanged.
        return _probed(
            sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        )
    try:
        return _probed(sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False))
    except sqlite3.OperationalError:
        return _probed(
            sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        )


def _probed(conn: sqlite3.Connection) -> sqlite3.Connection:
    """`conn` once a first read works; a damaged file still returns (the integrity check reports it)."""
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        raise
    except sqlite3.DatabaseError:
        pass
    return conn


def _placeholder_conn() -> sqlite3.Connection:
    """An empty in-memory store at the current schema: reads answer "nothing stored", writes are refused above."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    migrate(conn)
    return conn


def _snapshot(conn: sqlite3.Connection) -> sqlite3.Connection:
    """An in-memory copy of an older store, migrated, so it can be read at the current schema without a write."""
    mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.backup(mem)
    conn.close()
    migrate(mem)
    return mem


def _readable_at_current_schema(conn: sqlite3.Connection) -> bool:
    """Whether a newer store still has every column this version reads (a newer version may only have added)."""
    try:
        conn.execute(f"SELECT {', '.join(_IMAGE_COLUMNS)} FROM images LIMIT 0").fetchall()
        conn.execute("SELECT image_id, rows, source FROM reference LIMIT 0").fetchall()
        conn.execute("SELECT ts, image_id, action, detail, reviewer FROM journal LIMIT 0").fetchall()
        conn.execute(f"SELECT {', '.join(_AI_COLUMNS)} FROM ai_results LIMIT 0").fetchall()
        conn.execute("SELECT key, value FROM state LIMIT 0").fetchall()
    except sqlite3.Error:
        return False
    return True


_IMAGE_COLUMNS = (
    "image_id", "status", "height", "width", "reviewer", "comment", "created", "updated", "final_rle",
    "final_components", "import_rows", "final_from_import", "source_uid", "source_hash",
)  # fmt: skip
_AI_COLUMNS = (
    "image_id", "model_sha256", "probability", "rle", "mask_area", "model_name", "model_version", "model_synthetic",
    "device", "updated",
)  # fmt: skip


def _seed_copy(source: Path, target: Path) -> bool:
    """Copy a read-only folder's own store (read read-only) to the per-user store `target`; False when either
    side cannot be used (the folder's store then opens read-only)."""
    tmp = _sidecar(target, ".seeding")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        src = _connect_ro(source)
        try:
            if _integrity_problem(src) is not None:
                return False  # a damaged store is not copied; opening it reports the damage
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(dst)
                dst.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('copied_from', ?)", (str(source),))
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(tmp, target)
    except (OSError, sqlite3.Error) as exc:
        log.error("could not copy the read-only folder's review store %s to %s: %s", source, target, exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False
    log.info("read-only folder: review store %s copied to %s", source, target)
    return True


# ---------------------------------------------------------------------------------------------------- the lock


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap, safe probe (os.kill ends the process on Windows): assume it is running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _os_lock(fd: int) -> None:
    """Take an exclusive, non-blocking OS lock on `fd` (released by the OS when the process dies)."""
    if os.name == "posix":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # Windows: lock one byte far past the holder's text, so others can still read who holds it
        import msvcrt

        os.lseek(fd, 1 << 30, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


class _StoreLock:
    """The single-writer lock of one store file: ``<store>.lock`` holding JSON {host, user, pid, since}."""

    def __init__(self, store_path: Path) -> None:
        self.path = _sidecar(store_path, ".lock")
        self._fd: int | None = None

    def acquire(self) -> LockInfo | None:
        """Take the lock: None when taken, else who holds it. OSError when the lock file cannot be made."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _os_lock(fd)
        except OSError as exc:
            holder = self._read(fd)
            if exc.errno in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK):
                os.close(fd)
                return holder or LockInfo("unknown host", "unknown user", 0, 0.0)
            # no OS locks on this file system (some network shares): trust the holder's record unless its
            # process is gone from this host
            if holder is not None and (holder.host != socket.gethostname() or _pid_alive(holder.pid)):
                os.close(fd)
                return holder
        me = LockInfo(socket.gethostname(), default_reviewer(), os.getpid(), _now())
        data = json.dumps(me.__dict__).encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        with contextlib.suppress(OSError):
            os.fsync(fd)
        self._fd = fd
        return None

    @staticmethod
    def _read(fd: int) -> LockInfo | None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            raw = json.loads(os.read(fd, 4096).decode("utf-8"))
            return LockInfo(str(raw["host"]), str(raw["user"]), int(raw["pid"]), float(raw["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # a free lock names nobody
        os.close(self._fd)
        self._fd = None


# ---------------------------------------------------------------------------------------------------- write safety

_F = TypeVar("_F", bound=Callable[..., Any])


def _is_storage_error(exc: BaseException) -> bool:
    """Disk full, I/O error, lock timeout, corruption found mid-session: the change itself was fine."""
    return isinstance(exc, OSError) or type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError)


@dataclass
class _Unsaved:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def describe(self) -> str:
        target = self.args[0] if self.args and isinstance(self.args[0], str) else ""
        return f"{self.fn.__name__}({target})" if target else self.fn.__name__


def _write(method: _F) -> _F:
    """A public write: if the disk refuses it, keep it (arguments copied) for :meth:`ReviewStore.retry_unsaved`;
    while older changes are unsaved, this one queues behind them so the order of changes never flips."""

    @functools.wraps(method)
    def wrapper(self: ReviewStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._unsaved:
                try:
                    self.retry_unsaved()
                except StoreWriteError as exc:
                    self._keep(method, args, kwargs)
                    raise StoreWriteError(str(exc), len(self._unsaved)) from exc.__cause__
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                if not _is_storage_error(exc):
                    raise
                self._keep(method, args, kwargs)
                raise StoreWriteError(
                    f"review store {self.path}: could not save ({exc}); {len(self._unsaved)} change(s) kept in "
                    "memory until they can be written",
                    len(self._unsaved),
                ) from exc

    return wrapper  # type: ignore[return-value]


class ReviewStore:
    """Review state of one folder. Thread-safe (one lock); use from the GUI thread or a worker alike.

    :attr:`outcome` says whether it opened writable and, if not or if something was repaired, why.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        folder: Path | None = None,
        reviewer: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.folder = folder
        self.reviewer = reviewer or default_reviewer()
        self._lock = threading.RLock()
        self._closed = True
        self._file_lock: _StoreLock | None = None
        self._unsaved: collections.deque[_Unsaved] = collections.deque()
        self._refuse_placeholder = read_only  # a read-only use wants the data or an error, not an empty stand-in
        self.outcome = self._connect(read_only)
        self._closed = False
        if self.outcome.read_only:
            return
        with self._tx() as c:
            if folder is not None:
                c.execute("INSERT OR IGNORE INTO state(key, value) VALUES ('folder', ?)", (str(folder),))
            row = c.execute("SELECT value FROM state WHERE key='copied_from'").fetchone()
        if row is not None and self.outcome.reason is None:
            self.outcome = replace(
                self.outcome,
                reason=StoreIssue.READ_ONLY_FOLDER,
                copied_from=Path(row[0]),
                message=(
                    f"The folder is read-only: its review store {row[0]} was copied to {self.path}, "
                    "where new work is saved (the folder's store is not changed)."
                ),
            )

    @classmethod
    def open(
        cls, folder: str | os.PathLike[str], *, reviewer: str | None = None, read_only: bool = False
    ) -> ReviewStore:
        """Open the store of an image folder: creating it if needed, or, ``read_only=True`` (export, evaluate),
        the existing one without creating or changing anything (:class:`StoreNotFoundError` when there is none)."""
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"not a folder: {root}")
        if read_only:
            existing = existing_store_path(root)
            if existing is None:
                raise StoreNotFoundError(f"{root}: no review store yet")
            return cls(existing, folder=root, reviewer=reviewer, read_only=True)
        path = store_path_for(root)
        inside = root / STORE_DIRNAME / STORE_FILENAME
        if path != inside and inside.is_file() and not path.exists() and not _seed_copy(inside, path):
            path = inside  # no per-user copy could be made: the folder's store opens read-only
        return cls(path, folder=root, reviewer=reviewer)

    # ------------------------------------------------------------------ plumbing

    def _connect(self, read_only: bool) -> OpenOutcome:
        """Open the file behind :attr:`path` as safely as it allows; sets ``self._conn``, returns the state."""
        p = self.path
        if p.exists() and not p.is_file():
            kind = "a folder" if p.is_dir() else "not a regular file"
            return self._placeholder(
                StoreIssue.NOT_A_FILE,
                f"The review store path {p} is {kind}, not a store file; nothing can be saved until it is "
                "moved or removed.",
            )
        if read_only:
            if not p.is_file():
                raise StoreNotFoundError(f"{p}: no review store")
            return self._open_read_only(None, "")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._file_lock = _StoreLock(p)
            holder = self._file_lock.acquire()
        except OSError as exc:
            self._file_lock = None
            if p.is_file():
                return self._open_read_only(
                    StoreIssue.UNWRITABLE,
                    f"The review store {p} cannot be written ({exc.strerror}); it is opened read-only.",
                )
            return self._placeholder(
                StoreIssue.UNWRITABLE, f"The review store {p} cannot be created ({exc.strerror}); nothing can be saved."
            )
        if holder is not None:
            self._file_lock = None
            return self._open_read_only(
                StoreIssue.LOCKED,
                f"The review store is in use by {holder.describe()}; it is opened read-only (reopen the folder "
                "when they are done).",
                holder=holder,
            )
        existed = p.is_file()
        problem = _empty_file_problem(p) if existed else None
        conn = _connect_rw(p)
        if existed and problem is None:
            problem = _integrity_problem(conn)
        moved: Path | None = None
        if problem is not None:
            conn.close()
            try:
                moved = _move_aside(p)
            except OSError as exc:
                self._release_file_lock()
                return self._placeholder(
                    StoreIssue.DAMAGED,
                    f"The review store {p} is damaged ({problem}) and could not be moved aside ({exc.strerror}); "
                    "nothing can be saved.",
                )
            log.error("review store %s was damaged (%s); moved aside to %s", p, problem, moved)
            conn = _connect_rw(p)
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            conn.close()
            self._release_file_lock()
            return self._open_read_only(
                StoreIssue.NEWER_SCHEMA,
                f"The review store {p} was written by a newer PneumoViewer (schema {version}; this one knows "
                f"{SCHEMA_VERSION}); it is opened read-only. Update PneumoViewer to edit.",
            )
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so a returned call survives power loss, not only a crash
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        migrate(conn)
        self._conn = conn
        if moved is None:
            return OpenOutcome(p, read_only=False)
        return OpenOutcome(
            p,
            read_only=False,
            reason=StoreIssue.DAMAGED,
            message=(
                f"The review store {p} was damaged ({problem}); it was moved aside to {moved.name} and a new, "
                "empty store was started."
            ),
            moved_aside_to=moved,
        )

    def _open_read_only(self, reason: StoreIssue | None, message: str, holder: LockInfo | None = None) -> OpenOutcome:
        p = self.path
        try:
            conn = _connect_ro(p)
        except sqlite3.Error as exc:
            return self._placeholder(reason or StoreIssue.UNWRITABLE, f"The review store {p} cannot be read ({exc}).")
        problem = _empty_file_problem(p) or _integrity_problem(conn)
        if problem is not None:
            conn.close()
            return self._placeholder(
                StoreIssue.DAMAGED, f"The review store {p} is damaged ({problem}); nothing is shown or saved."
            )
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            reason = StoreIssue.NEWER_SCHEMA
            message = (
                f"The review store {p} was written by a newer PneumoViewer (schema {version}; this one knows "
                f"{SCHEMA_VERSION}); it is opened read-only. Update PneumoViewer to edit."
            )
            if not _readable_at_current_schema(conn):
                conn.close()
                return self._placeholder(reason, message + " Its contents cannot be shown by this version.")
        elif version < SCHEMA_VERSION:
            conn = _snapshot(conn)
        self._conn = conn
        return OpenOutcome(p, read_only=True, reason=reason, message=message, holder=holder)

    def _placeholder(self, reason: StoreIssue, message: str) -> OpenOutcome:
        if self._refuse_placeholder:
            raise StoreUnreadableError(message)
        log.error("%s", message)
        self._conn = _placeholder_conn()
        return OpenOutcome(self.path, read_only=True, reason=reason, message=message)

    def _release_file_lock(self) -> None:
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None

    @property
    def read_only(self) -> bool:
        """True when writes are refused (:attr:`outcome` says why)."""
        return self.outcome.read_only

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction; committed (and fsynced) when the block exits."""
        with self._lock:
            if self._closed:
                raise ReviewStoreError(f"review store {self.path} is closed")
            if self.outcome.read_only:
                raise StoreReadOnlyError(self.outcome.message or f"review store {self.path} is opened read-only")
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        c.execute("ROLLBACK")
                raise

    def _keep(self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._unsaved.append(_Unsaved(method, copy.deepcopy(args), copy.deepcopy(kwargs)))
        log.error("review store %s: %d change(s) unsaved", self.path, len(self._unsaved))

    def unsaved(self) -> list[str]:
        """The changes the disk refused so far, oldest first (e.g. ``set_final_mask(1.2.3)``); empty when all saved."""
        with self._lock:
            return [u.describe() for u in self._unsaved]

    def retry_unsaved(self) -> int:
        """Write the kept changes in their order; returns how many were saved. Raises :class:`StoreWriteError`
        (keeping the rest) while the disk still refuses."""
        with self._lock:
            saved = 0
            while self._unsaved:
                op = self._unsaved[0]
                try:
                    op.fn(self, *op.args, **op.kwargs)
                except (sqlite3.Error, OSError) as exc:
                    if not _is_storage_error(exc):
                        raise
                    raise StoreWriteError(
                        f"review store {self.path}: still cannot save ({exc}); {len(self._unsaved)} change(s) kept "
                        "in memory",
                        len(self._unsaved),
                    ) from exc
                self._unsaved.popleft()
                saved += 1
            return saved

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

    @staticmethod
    def _set_source(c: sqlite3.Connection, image_id: str, source: SourceIdentity | None) -> None:
        if source is not None:
            c.execute(
                "UPDATE images SET source_uid=?, source_hash=? WHERE image_id=?",
                (source.sop_instance_uid, source.content_hash, image_id),
            )

    def close(self, *, discard_unsaved: bool = False) -> None:
        """Write any kept changes, checkpoint the WAL into the main file, release the lock and close. Safe to
        call twice. While kept changes still cannot be written it raises :class:`StoreWriteError` and stays open
        (retry, or pass ``discard_unsaved=True`` once the reviewer chose to give them up)."""
        with self._lock:
            if getattr(self, "_closed", True):
                return
            if self._unsaved and not discard_unsaved:
                self.retry_unsaved()
            if self._unsaved:
                log.error("review store %s closed with %d unsaved change(s) given up", self.path, len(self._unsaved))
            if not self.outcome.read_only:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._release_file_lock()
            self._closed = True

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close(discard_unsaved=True)

    # ------------------------------------------------------------------ images

    @_write
    def register_image(self, image_id: str, height: int, width: int) -> None:
        """Make an image known with its size (from the folder index), so negatives/imports can be decoded."""
        with self._tx() as c:
            self._ensure(c, image_id, int(height), int(width))

    def register_images(self, sizes: Iterable[tuple[str, int, int]]) -> None:
        """Many :meth:`register_image` calls in one transaction (a whole folder index)."""
        self._register_images([(str(i), int(h), int(w)) for i, h, w in sizes])  # a list: kept whole if refused

    @_write
    def _register_images(self, sizes: list[tuple[str, int, int]]) -> None:
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

    @_write
    def set_ai_result(self, prediction: Prediction, *, model_sha256: str | None = None) -> None:
        """Store the AI result as `original` of the bundle with `model_sha256` (default: ``prediction.model.sha256``;
        neither: the bundle of unknown identity), with its mask area. It replaces only that bundle's result for the
        image: other models' results stay, and the reviewer's `final` mask and status are never touched."""
        mask = np.asarray(prediction.mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"prediction mask must be 2-D, got {mask.shape}")
        h, w = mask.shape
        m = prediction.model
        key = _key(model_sha256 or m.sha256)
        with self._tx() as c:
            self._ensure(c, prediction.image_id, h, w)
            c.execute(
                f"INSERT OR REPLACE INTO ai_results({', '.join(_AI_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    prediction.image_id,
                    key,
                    float(prediction.probability),
                    rle.encode(mask),
                    int(np.count_nonzero(mask)),
                    m.name,
                    m.version,
                    int(bool(m.synthetic)),
                    prediction.device,
                    _now(),
                ),
            )
            self._journal(c, prediction.image_id, "ai", {"model": m.name, "version": m.version, "sha256": key})

    def _picked_ai(self, columns: str, model_sha256: str | None, image_id: str | None = None) -> list[tuple]:
        """`columns` of ``ai_results``, one row per image (or of `image_id` only): the result of the bundle
        `model_sha256` ('' = unknown bundle), or (None) the folder's current model's, else the image's newest."""
        one, params = (" AND image_id=?", (image_id,)) if image_id is not None else ("", ())
        if model_sha256 is not None:
            sql = f"SELECT {columns} FROM ai_results WHERE model_sha256=?{one}"
            params = (model_sha256, *params)
        else:
            sql = (
                f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY image_id ORDER BY model_sha256 IS ? "
                f"DESC, updated DESC) AS pick FROM ai_results WHERE 1{one}) WHERE pick=1"
            )
            params = (self.ai_model(), *params)
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def ai_result(self, image_id: str, model_sha256: str | None = None) -> Prediction | None:
        """The stored AI result (mask decoded at the image size) of the bundle `model_sha256` ('' = unknown bundle;
        None: the folder's current model, else the newest), or None. ``prediction.model.sha256`` names the bundle."""
        rows = self._picked_ai(
            "probability, rle, model_name, model_version, model_synthetic, device, model_sha256", model_sha256, image_id
        )
        size = self.image_size(image_id)
        if not rows or size is None:
            return None
        p, text, name, version, synthetic, device, key = rows[0]
        return Prediction(
            image_id=image_id,
            probability=float(p) if p is not None else float("nan"),
            mask=rle.decode(text, *size),
            model=_model(name, version, synthetic, key),
            device=device or "CPU",
        )

    def original_mask(self, image_id: str, model_sha256: str | None = None) -> np.ndarray | None:
        """The AI mask of `image_id` (of the bundle `model_sha256`; None: as :meth:`ai_result` picks), or None."""
        pred = self.ai_result(image_id, model_sha256)
        return None if pred is None else pred.mask

    @_write
    def set_ai_model(self, model_sha256: str | None) -> None:
        """Record the folder's current model (the bundle chosen in AI ▸ Model…; '' = an engine of unknown identity,
        None: none): the one readers that name no model prefer."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('ai_model_sha256', ?)", (model_sha256,))

    def ai_model(self) -> str | None:
        """The folder's current model as recorded by :meth:`set_ai_model` (None: never recorded)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key='ai_model_sha256'").fetchone()
        return row[0] if row else None

    def ai_models(self) -> list[StoredModel]:
        """Every model with results in the store, newest first (for naming which model an export or evaluation
        used, and for choosing one by sha256)."""
        out = []
        with self._lock:
            c = self._conn
            groups = c.execute(
                "SELECT model_sha256, count(*), max(updated) FROM ai_results GROUP BY model_sha256 "
                "ORDER BY max(updated) DESC"
            ).fetchall()
            for key, n, updated in groups:
                name, version, synthetic = c.execute(
                    "SELECT model_name, model_version, model_synthetic FROM ai_results WHERE model_sha256=? "
                    "ORDER BY updated DESC LIMIT 1",
                    (key,),
                ).fetchone()
                out.append(StoredModel(_model(name, version, synthetic, key), int(n), float(updated)))
        return out

    def resolve_ai_model(self, text: str) -> str:
        """The stored bundle sha256 that `text` names (a full sha256 or a unique prefix of 6+ hex digits), for the
        CLI's ``--ai-model``. Raises ValueError saying which models the store has."""
        text = text.strip().lower()
        keys = [m.model.sha256 for m in self.ai_models() if m.model.sha256]
        hits = [k for k in keys if k == text] or ([k for k in keys if k.startswith(text)] if len(text) >= 6 else [])
        if len(hits) == 1:
            return hits[0]
        known = ", ".join(f"{m.model.title} {m.model.sha256[:12]}" for m in self.ai_models() if m.model.sha256)
        what = "is ambiguous" if hits else "matches no model with results in the store"
        raise ValueError(f"--ai-model {text!r} {what} (stored: {known or 'none with a recorded sha256'})")

    # ------------------------------------------------------------------ reviewer mask ("final")

    @_write
    def set_final_mask(
        self,
        image_id: str,
        mask: np.ndarray,
        *,
        status: ReviewStatus | str | None = ReviewStatus.CORRECTED,
        source: SourceIdentity | None = None,
    ) -> bool:
        """Save the reviewer's mask (durable on return). Returns False when it equals the stored final mask.

        An actual change sets the status to `status` (default *corrected*: any edit is a correction; pass
        ``status=None`` to leave the status alone) and drops the imported rows (the image is no longer unedited).
        `source`: the file the mask was drawn on, recorded with it (see :meth:`source_identity`).
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
            self._set_source(c, image_id, source)
            now = _now()
            c.execute(
                "UPDATE images SET final_rle=?, final_components=?, final_updated=?, final_from_import=0, updated=?, "
                "reviewer=? WHERE image_id=?",
                (text, "\n".join(component_rows(text, h)), now, now, self.reviewer, image_id),
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

    def source_identity(self, image_id: str) -> SourceIdentity | None:
        """The source file the reviewer's mask was recorded against (SOPInstanceUID + content hash), or None.

        An export compares it with the file now at that place and refuses on a mismatch."""
        with self._lock:
            row = self._conn.execute(
                "SELECT source_uid, source_hash FROM images WHERE image_id=?", (image_id,)
            ).fetchone()
        return None if row is None or row[0] is None else SourceIdentity(row[0], row[1])

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

    def final_entries(
        self,
        *,
        only_reviewed: bool = False,
        layer: MaskLayer | str = MaskLayer.FINAL,
        model_sha256: str | None = None,
    ) -> list[FinalEntry]:
        """Every image that has a final mask (optionally only accepted/corrected/negative), in store order.

        ``layer=MaskLayer.ORIGINAL`` lists the AI masks instead (in ``final_rle``), for exporting what the model
        said: those of the bundle `model_sha256` ('' = unknown bundle; None: per image as :meth:`ai_result` picks).
        Each entry carries the recorded source identity, for the export's same-file check, and, for the final layer,
        the stored component rows and the model whose mask the final mask is (``final_is_ai``; else the picked one).
        """
        try:
            layer = MaskLayer(layer)
        except ValueError:
            raise ValueError(f"layer must be 'final' or 'original', got {layer!r}") from None
        if layer is MaskLayer.REFERENCE:
            raise ValueError("the reference layer is imported rows, not exported from the store")
        final = layer is MaskLayer.FINAL
        sql = (
            "SELECT image_id, status, height, width, final_rle, final_components, CASE WHEN final_from_import THEN "
            "import_rows END, final_from_import, reviewer, source_uid, source_hash, (SELECT a.model_sha256 FROM "
            "ai_results a WHERE a.image_id = images.image_id AND a.rle = images.final_rle ORDER BY a.updated DESC "
            "LIMIT 1) FROM images"
            + (" WHERE final_rle IS NOT NULL" if final else "")
        )
        params: tuple = ()
        if only_reviewed:
            sql += (" AND" if final else " WHERE") + " status IN (?, ?, ?)"
            params = tuple(s.value for s in (ReviewStatus.ACCEPTED, ReviewStatus.CORRECTED, ReviewStatus.NEGATIVE))
        sql += " ORDER BY rowid"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
            picked = {
                r[0]: r
                for r in self._picked_ai(
                    "image_id, model_sha256, model_name, model_version, model_synthetic, rle", model_sha256
                )
            }
            models = {m.model.sha256 or "": m.model for m in self.ai_models()} if picked else {}
        by_value = _STATUS_BY_VALUE
        out = []
        for image_id, status, h, w, final_rle, comps, imported, from_import, reviewer, uid, digest, same in rows:
            ai = picked.get(image_id)
            if not final:
                if ai is None:
                    continue
                text, model, is_ai, components, imported_rows = ai[5], _model(*ai[2:5], ai[1]), True, None, None
            else:
                text, is_ai = final_rle, same is not None
                model = models.get(same) if is_ai else (_model(*ai[2:5], ai[1]) if ai is not None else None)
                components = None if comps is None else tuple(comps.split("\n")) if comps else ()
                imported_rows = list(json.loads(imported)) if imported is not None and from_import else None
            out.append(
                FinalEntry(
                    image_id=image_id,
                    status=by_value[status],
                    height=int(h),
                    width=int(w),
                    final_rle=text,
                    import_rows=imported_rows,
                    reviewer=reviewer,
                    ai_model=model,
                    final_is_ai=is_ai,
                    layer=layer,
                    source=SourceIdentity(uid, digest) if uid is not None else None,
                    components=components,
                )
            )
        return out

    # ------------------------------------------------------------------ status and review actions

    @_write
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

    @_write
    def set_comment(self, image_id: str, comment: str | None) -> None:
        with self._tx() as c:
            self._ensure(c, image_id)
            c.execute("UPDATE images SET comment=?, updated=? WHERE image_id=?", (comment, _now(), image_id))
            self._journal(c, image_id, "comment", comment)

    def statuses(self) -> dict[str, ReviewStatus]:
        """Every known image's status (for the worklist column and its filter), in one query."""
        with self._lock:
            rows = self._conn.execute("SELECT image_id, status FROM images").fetchall()
        by_value = _STATUS_BY_VALUE
        return {image_id: by_value[value] for image_id, value in rows}

    def comments(self) -> dict[str, str]:
        """Every image's comment (flag reasons), in one query; images without one are left out."""
        with self._lock:
            return dict(self._conn.execute("SELECT image_id, comment FROM images WHERE comment IS NOT NULL").fetchall())

    def stored_ai(self, model_sha256: str | None = None) -> dict[str, StoredAi]:
        """Every stored AI result of the bundle `model_sha256` ('' = unknown bundle; None: per image as
        :meth:`ai_result` picks) without its mask (probability, mask area, model, bundle sha256), in one query over
        a covering index: restoring a 12,000-image worklist takes milliseconds, not a decode per row."""
        rows = self._picked_ai(
            "image_id, probability, mask_area, model_name, model_version, model_synthetic, model_sha256", model_sha256
        )
        models: dict[tuple[Any, ...], ModelInfo] = {}
        out = {}
        for image_id, p, area, name, version, synthetic, key in rows:
            model = models.get((name, version, synthetic))
            if model is None:
                model = models[(name, version, synthetic)] = ModelInfo(name or "", version or "", bool(synthetic))
            out[image_id] = StoredAi(float("nan") if p is None else p, area or 0, model, key or None)
        return out

    @_write
    def accept_ai(
        self, image_id: str, *, model_sha256: str | None = None, source: SourceIdentity | None = None
    ) -> np.ndarray:
        """Accept the AI mask (of the bundle `model_sha256`; None: as :meth:`ai_result` picks): final = that
        original, status *accepted*. Returns the accepted mask."""
        with self._tx() as c:
            picked = self._picked_ai("rle, model_sha256", model_sha256, image_id)
            size = self._size(c, image_id)
            if not picked or size is None:
                raise ReviewStoreError(f"image {image_id} has no AI result to accept")
            text, key = picked[0]
            self._set_source(c, image_id, source)
            now = _now()
            components = "\n".join(component_rows(text, size[0]))
            c.execute(
                "UPDATE images SET final_rle=?, final_components=?, final_updated=?, final_from_import=0, status=?, "
                "reviewer=?, updated=? WHERE image_id=?",
                (text, components, now, ReviewStatus.ACCEPTED.value, self.reviewer, now, image_id),
            )
            self._journal(c, image_id, "accept_ai", {"sha256": key})
        return rle.decode(text, *size)

    @_write
    def mark_negative(
        self, image_id: str, shape: tuple[int, int] | None = None, *, source: SourceIdentity | None = None
    ) -> None:
        """No pneumothorax: final = empty mask, status *negative*. Needs the image size (known or `shape`)."""
        with self._tx() as c:
            if shape is not None:
                self._ensure(c, image_id, int(shape[0]), int(shape[1]))
            size = self._size(c, image_id)
            if size is None:
                raise ReviewStoreError(f"size of image {image_id} unknown; register it or pass shape=")
            self._set_source(c, image_id, source)
            now = _now()
            c.execute(
                "UPDATE images SET final_rle=?, final_components='', final_updated=?, final_from_import=0, status=?, "
                "reviewer=?, updated=? WHERE image_id=?",
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
        """One image's record; its AI part as :meth:`ai_result` picks (the folder's current model, else newest)."""
        recs = self._records(image_id)
        return recs.get(image_id)

    def records(self) -> dict[str, ReviewRecord]:
        """Every image's record; the AI part per image as :meth:`ai_result` picks."""
        return self._records(None)

    def _records(self, image_id: str | None) -> dict[str, ReviewRecord]:
        sql = (
            "SELECT image_id, status, height, width, reviewer, comment, created, updated, final_rle IS NOT NULL, "
            "final_from_import FROM images" + (" WHERE image_id=?" if image_id is not None else "")
        )
        with self._lock:
            rows = self._conn.execute(sql, () if image_id is None else (image_id,)).fetchall()
            ai = {
                r[0]: r
                for r in self._picked_ai(
                    "image_id, probability, model_name, model_version, model_synthetic, model_sha256", None, image_id
                )
            }
        out = {}
        for r in rows:
            a = ai.get(r[0])
            model = _model(a[2], a[3], a[4], a[5]) if a is not None else None
            out[r[0]] = ReviewRecord(
                image_id=r[0],
                status=ReviewStatus(r[1]),
                height=r[2],
                width=r[3],
                reviewer=r[4],
                comment=r[5],
                created=r[6],
                updated=r[7],
                ai_probability=a[1] if a is not None else None,
                ai_model=model,
                has_ai_mask=a is not None,
                has_final=bool(r[8]),
                final_from_import=bool(r[9]),
            )
        return out

    # ------------------------------------------------------------------ worklist position

    @_write
    def set_position(self, image_id: str | None) -> None:
        """Remember the current image so reopening the folder returns to it."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('position', ?)", (image_id,))

    def position(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key='position'").fetchone()
        return row[0] if row else None

    @_write
    def set_state(self, key: str, value: str | None) -> None:
        """Small per-folder UI state (sort order, filter); not for masks."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", (f"ui.{key}", value))

    def state(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key=?", (f"ui.{key}",)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ imports and the reference layer

    @_write
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
                    # components: none yet (an unedited import exports its own rows; an edit stores them)
                    "UPDATE images SET final_rle=?, final_components=NULL, final_updated=?, import_rows=?, "
                    "import_source=?, final_from_import=1, updated=? WHERE image_id=?",
                    (union_rle, now, json.dumps(rows), source, now, image_id),
                )
                n += 1
            self._journal(c, None, "import_final", {"source": source, "images": n})
        return n

    @_write
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
