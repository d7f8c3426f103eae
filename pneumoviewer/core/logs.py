"""Logging, configured once: a rotating file in the user data folder, warnings also on stderr.

Modules only ever call ``logging.getLogger(__name__)``; the app (and the CLI) call :func:`configure_logging` once at
start-up. Workers that catch an exception to keep going (one bad image, a failed save) log it with
``log.exception`` so the traceback lands in the file while the GUI shows one line. Log lines name images by their
ImageId at most — never patient names or IDs.

A child process (the AI worker) writes its whole stderr — TensorFlow's C++ lines (``E0000 … failed call to cuInit``
on a CPU machine), Python warnings, tracebacks — into the same file: :func:`open_child_stderr` opens it for appending
and the parent hands that descriptor to the child as fd 2, so nothing of it reaches the reader's terminal. POSIX
appends are atomic per write, so the two processes' lines do not tear; after a rotation the child keeps appending to
the rotated file until it is next started.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pneumoviewer.core.paths import user_data_dir

LOG_FILENAME = "pneumoviewer.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def log_path() -> Path:
    """Where the log file lives: ``<user data>/logs/pneumoviewer.log``."""
    return user_data_dir() / "logs" / LOG_FILENAME


def configure_logging(level: int = logging.INFO, path: Path | None = None) -> Path | None:
    """Attach the rotating file handler (and a stderr handler for warnings) to the package logger, once.

    Returns the log file, or None when it cannot be written (read-only home: logging stays on stderr only).
    Idempotent: a second call changes nothing.
    """
    logger = logging.getLogger("pneumoviewer")
    existing = _file_handler()
    if existing is not None:
        return Path(existing.baseFilename)
    logger.setLevel(level)
    target = path or log_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler | None = logging.handlers.RotatingFileHandler(
            target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        handler, target = None, None
    if handler is not None:
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    if not any(type(h) is logging.StreamHandler for h in logger.handlers):
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.WARNING)
        stderr.setFormatter(logging.Formatter("pneumoviewer: %(levelname)s %(message)s"))
        logger.addHandler(stderr)
    return target


def current_log_file() -> Path:
    """The file this process logs to: the configured rotating file, else where `configure_logging` would put it."""
    existing = _file_handler()
    return Path(existing.baseFilename) if existing is not None else log_path()


def _file_handler() -> logging.handlers.RotatingFileHandler | None:
    logger = logging.getLogger("pneumoviewer")
    return next((h for h in logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)), None)


def open_child_stderr() -> BinaryIO | None:
    """The log file opened for appending, to become a child process's stderr; None when it cannot be written (the
    child then inherits this process's stderr, so its errors stay visible somewhere)."""
    target = current_log_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "ab", buffering=0)  # the caller closes it once the child holds its copy
    except OSError:
        return None


def configure_child_logging(tag: str, level: int = logging.INFO) -> None:
    """In a child whose stderr is the log file: the package logger writes there, its lines marked with `tag`."""
    logger = logging.getLogger("pneumoviewer")
    logger.setLevel(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT.replace("%(threadName)s", f"{tag}[%(process)d] %(threadName)s")))
    logger.addHandler(handler)


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """While the block runs, fd 2 (C++ libraries' own writes: TensorFlow's ``cudart_stub``/``cuInit``/absl lines on
    a CPU machine) goes to the log file; then the terminal gets it back.

    For the CLI commands and the in-process inference mode, which load TensorFlow in the reader's terminal: the AI
    child needs none of this (its whole fd 2 is the log file). Where the log cannot be opened, nothing changes.
    """
    target = open_child_stderr()
    if target is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        target.close()
