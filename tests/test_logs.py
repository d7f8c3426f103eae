"""Logging is configured once: a rotating file in the user data folder that keeps the tracebacks workers catch."""

from __future__ import annotations

import logging
import logging.handlers

import pytest

from pneumoviewer.core.logs import configure_logging, log_path


@pytest.fixture
def package_logger():
    logger = logging.getLogger("pneumoviewer")
    saved = list(logger.handlers), logger.level
    logger.handlers = []
    yield logger
    for h in logger.handlers:
        h.close()
    logger.handlers, logger.level = saved


def test_configure_logging_writes_a_rotating_file_once_and_keeps_tracebacks(package_logger, tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOVIEWER_DATA", str(tmp_path / "data"))
    path = configure_logging()
    assert path == log_path() and path.parent == tmp_path / "data" / "logs"
    assert configure_logging() == path  # idempotent: no second file handler
    files = [h for h in package_logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert len(files) == 1 and files[0].maxBytes > 0 and files[0].backupCount > 0
    try:
        raise ValueError("one bad image")
    except ValueError:
        logging.getLogger("pneumoviewer.review.writer").exception("save failed for one image")
    files[0].flush()
    text = path.read_text(encoding="utf-8")
    assert "save failed for one image" in text and "Traceback" in text and "ValueError: one bad image" in text


def test_an_unwritable_log_folder_leaves_stderr_logging(package_logger, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert configure_logging(path=blocker / "logs" / "x.log") is None
    assert any(type(h) is logging.StreamHandler for h in package_logger.handlers)


def test_a_child_process_stderr_appends_to_the_configured_log_file(package_logger, tmp_path, monkeypatch):
    from pneumoviewer.core.logs import current_log_file, open_child_stderr

    target = tmp_path / "logs" / "app.log"
    assert configure_logging(path=target) == target
    assert current_log_file() == target
    logging.getLogger("pneumoviewer.app").warning("before the child")
    stream = open_child_stderr()
    assert stream is not None
    with stream:
        stream.write(b"E0000 native line of the child\n")
    text = target.read_text(encoding="utf-8")
    assert text.index("before the child") < text.index("E0000 native line of the child")  # appended, not truncated


def test_no_writable_log_folder_leaves_the_child_on_this_stderr(package_logger, tmp_path, monkeypatch):
    from pneumoviewer.core.logs import open_child_stderr

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PNEUMOVIEWER_DATA", str(blocker / "data"))
    assert open_child_stderr() is None
