"""The review store's one writer: a background thread that runs store writes in submission order.

Why a thread: ``ReviewStore`` commits with ``synchronous=FULL`` (the WAL is fsynced before a call returns). Measured
here: ``set_final_mask`` is 4 ms p50 at 1024² and 11 ms at 3000², but the fsync spikes to 140 ms on a busy disk — too
long to block a brush. A commit therefore costs the caller only a mask copy and an enqueue. Saves of the same thing
that are still queued are coalesced (the newest wins: each job carries the whole state it writes), so each committed
step is durable within a few fsyncs. ``flush`` waits for everything queued; ``close`` flushes and stops the thread.

No Qt: ``on_error`` / ``on_done`` are called on the writer thread (a GUI adapter re-emits them as queued signals).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class StoreWriter:
    """One background thread that runs store writes in submission order; queued mask saves are coalesced."""

    def __init__(
        self, on_error: Callable[[str], None] | None = None, on_done: Callable[[str, str], None] | None = None
    ) -> None:
        self._queue: queue.Queue[tuple[str, str, Callable[[], Any]] | None] = queue.Queue()
        self._latest: dict[str, int] = {}  # coalescing key -> generation of the newest queued job
        self._gen = 0
        self._pending: collections.Counter[str] = collections.Counter()
        self._lock = threading.Condition()  # guards the counters; notified when an image's last write is done
        self._on_error = on_error
        self._on_done = on_done
        self._thread = threading.Thread(target=self._run, name="review-store-writer", daemon=True)
        self._thread.start()
        self.errors: list[str] = []

    def submit(self, job: Callable[[], Any], image_id: str = "", kind: str = "", coalesce: str | None = None) -> None:
        """Queue `job`; with `coalesce`, an older queued job with the same key is skipped when this one is newer."""
        with self._lock:
            self._gen += 1
            gen = self._gen
            if coalesce:
                self._latest[coalesce] = gen
            self._pending[image_id] += 1
        self._queue.put((image_id, kind, lambda: self._maybe_run(job, coalesce, gen)))

    def pending(self, image_id: str) -> int:
        """Writes for `image_id` queued or running."""
        with self._lock:
            return self._pending.get(image_id, 0)

    def _maybe_run(self, job: Callable[[], Any], key: str | None, gen: int) -> bool:
        if key:
            with self._lock:
                if self._latest.get(key, gen) != gen:
                    return False  # a newer save of the same thing is queued behind us
        job()
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                image_id, kind, fn = item
                try:
                    ran = fn()
                except Exception as exc:
                    msg = f"{kind or 'save'} failed for one image: {exc}"
                    log.exception(msg)  # the traceback goes to the log file; the GUI shows the line
                    self.errors.append(msg)
                    if self._on_error is not None:
                        self._on_error(msg)
                else:
                    if ran and self._on_done is not None:
                        self._on_done(image_id, kind)
            finally:
                if item is not None:
                    with self._lock:
                        self._pending[item[0]] -= 1
                        if self._pending[item[0]] <= 0:
                            del self._pending[item[0]]
                            self._lock.notify_all()
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued write is committed."""
        self._queue.join()

    def wait_for(self, image_id: str) -> None:
        """Wait until the writes of `image_id` queued so far are committed, not for what was queued after them
        (a reviewer opening an image during a burst of 12,000 AI results waits for that image's result only)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._pending.get(image_id, 0) or not self._thread.is_alive())

    def idle(self) -> bool:
        """True when nothing is queued or running."""
        return self._queue.unfinished_tasks == 0

    def close(self) -> None:
        """Flush and stop the thread (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
