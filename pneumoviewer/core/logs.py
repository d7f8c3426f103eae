"""Logging, configured once: a rotating file in the user data folder, warnings also on stderr.

Modules only ever call ``logging.getLogger(__name__)``; the app (and the CLI) call :func:`configure_logging` once at
start-up. Workers that catch an exception to keep going (one bad image, a failed save) log it with
``log.exception`` so the traceback lands in the file while the GUI shows one line. Log lines name images by their
ImageId at most — never patient names or IDs.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

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
    existing = next((h for h in logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)), None)
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
