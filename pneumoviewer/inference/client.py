"""The AI worker's client, Qt-free: a priority queue of images, fed to a child process (or an in-thread engine).

`InferenceClient.run()` blocks (call it in a thread you own); every outcome reaches `on_event` as an
`inference.protocol` dataclass, on that thread. The queue is shared by both modes:

* ``mode="process"`` (default): the child (`inference.child`) does the TensorFlow work; this thread only feeds it
  paths, ``IN_FLIGHT`` at a time (it decodes the next image while predicting this one), and relays what comes back —
  it waits in ``poll`` holding no GIL.
* ``mode="thread"``: the engine runs on the calling thread (warm-up first, before any image is waited for).

`enqueue`, `prioritize`, `cancel`, `forget`, `pending` and `stop` are safe from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pneumoviewer.inference.child import ChildProcess
from pneumoviewer.inference.protocol import (
    Cancel,
    ClientEvent,
    Dropped,
    Failed,
    Fatal,
    Idle,
    ModelLoading,
    Predict,
    Progress,
    QueueCancelled,
    Ready,
    Result,
    describe_error,
)

log = logging.getLogger(__name__)


def _ended(proc: ChildProcess) -> str:
    """Why the child is gone, in one line: its exit code (a pipe closes just before the process ends) and where its
    output (a native crash's last words) went."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(2.0)
    code = proc.exitcode
    what = "closed its connection" if code is None else f"ended unexpectedly (exit code {code})"
    where = f"; its output is in {proc.log_file}" if proc.log_file is not None else ""
    return f"the inference process {what}{where}"

MODES = ("process", "thread")


class InferenceClient:
    """Loads the model once, then predicts the queued images: prioritised ones first, then the rest."""

    IN_FLIGHT = 2

    def __init__(
        self,
        on_event: Callable[[ClientEvent], None],
        bundle_dir: str | Path | None = None,
        mode: str = "process",
        engine_factory: Callable[[str | None], Any] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"inference mode must be 'process' or 'thread', got {mode!r}")
        self.mode = mode
        self.bundle_dir = None if bundle_dir is None else str(bundle_dir)
        self._emit = on_event
        self._factory = engine_factory
        self._cv = threading.Condition()
        self._queue: OrderedDict[str, Path] = OrderedDict()
        self._in_flight: deque[str] = deque()
        self._done: set[str] = set()
        self._total = 0
        self._stop = False
        self._cancel_pending = False
        self.model_ready = False
        self.device: str | None = None
        self.proc: ChildProcess | None = None

    # ------------------------------------------------------------------------------------------------ queue
    def enqueue(self, items: Iterable[tuple[str, str | Path]]) -> None:
        """Add images (in order) that have no result yet; already predicted or queued ones are skipped."""
        with self._cv:
            for image_id, path in items:
                if image_id not in self._done and image_id not in self._queue and image_id not in self._in_flight:
                    self._queue[image_id] = Path(path)
            self._total = len(self._done) + len(self._queue) + len(self._in_flight)
            self._cv.notify_all()

    def prioritize(self, image_ids: Sequence[str]) -> None:
        """Move these ids (in this order) to the front of the queue."""
        with self._cv:
            for image_id in reversed(list(image_ids)):
                if image_id in self._queue:
                    self._queue.move_to_end(image_id, last=False)
            self._cv.notify_all()

    def cancel(self) -> None:
        """Drop every queued image (the one being predicted finishes); the model stays loaded."""
        with self._cv:
            self._queue.clear()
            self._cancel_pending = True
            self._total = len(self._done) + len(self._in_flight)
            self._cv.notify_all()

    def forget(self) -> None:
        """A new folder (or "re-run all"): clear the queue and the record of finished images."""
        with self._cv:
            self._queue.clear()
            self._done.clear()
            self._cancel_pending = True
            self._total = len(self._in_flight)
            self._cv.notify_all()

    def pending(self) -> int:
        with self._cv:
            return len(self._queue) + len(self._in_flight)

    def request_stop(self) -> None:
        """Make `run` return soon (the caller joins its thread; `kill` if it does not)."""
        with self._cv:
            self._stop = True
            self._queue.clear()
            self._cv.notify_all()

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()

    def abandon(self) -> None:
        """After the run ended: requests in flight died with it."""
        with self._cv:
            self._in_flight.clear()

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> None:
        """Serve until `request_stop` (blocks)."""
        if self.mode == "process":
            self._run_process()
        else:
            self._run_thread()

    def _next(self) -> tuple[str, Path] | None:
        """Pop the next queued image (caller holds the lock)."""
        if not self._queue:
            return None
        image_id, path = self._queue.popitem(last=False)
        self._in_flight.append(image_id)
        return image_id, path

    def _finished_one(self, image_id: str) -> None:
        with self._cv:
            if image_id in self._in_flight:
                self._in_flight.remove(image_id)
            self._done.add(image_id)
            done, total = len(self._done), max(self._total, len(self._done))
            empty = not self._queue and not self._in_flight
        self._emit(Progress(done, total))
        if empty:
            self._emit(Idle())

    def _make_engine(self) -> Any:
        if self._factory is not None:
            return self._factory(self.bundle_dir)
        from pneumoviewer.inference.engine import InferenceEngine

        return InferenceEngine(self.bundle_dir)

    def _run_thread(self) -> None:
        try:
            engine = self._make_engine()
            self._emit(ModelLoading(engine.model_info))
            engine.load()
            self.device = str(engine.device)
        except Exception as exc:
            log.exception("the model could not be loaded")
            self._emit(Fatal(describe_error(exc)))
            return
        if self._stop:
            return
        self.model_ready = True
        self._emit(Ready(self.device))
        from pneumoviewer.io.dicom import load_image

        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    if self._cancel_pending:
                        self._cancel_pending = False
                        self._emit(QueueCancelled())
                    self._cv.wait()
                if self._stop:
                    return
                item = self._next()
            assert item is not None
            image_id, path = item
            try:
                prediction = engine.predict(load_image(path))
            except Exception as exc:  # one bad image must not stop the folder
                log.warning("could not predict one image", exc_info=True)
                self._emit(Failed(image_id, describe_error(exc)))
            else:
                self._emit(Result(prediction))
            self._finished_one(image_id)

    def _run_process(self) -> None:
        try:
            proc = ChildProcess.start(self.bundle_dir, self._factory)
        except Exception as exc:
            log.exception("could not start the inference process")
            self._emit(Fatal(f"could not start the inference process: {describe_error(exc)}"))
            return
        self.proc = proc
        try:
            self._serve(proc)
        finally:
            proc.shutdown(loading=not self.model_ready)

    def _serve(self, proc: ChildProcess) -> None:
        conn = proc.conn
        while True:
            with self._cv:
                if self._stop:
                    return
                sends: list[Any] = []
                if self._cancel_pending and self.model_ready:
                    self._cancel_pending = False
                    sends.append(Cancel())
                    if not self._in_flight:
                        self._emit(QueueCancelled())
                while self.model_ready and len(self._in_flight) < self.IN_FLIGHT:
                    item = self._next()
                    if item is None:
                        break
                    sends.append(Predict(item[0], str(item[1])))
            for msg in sends:
                conn.send(msg)
            if not conn.poll(0.02):
                if not proc.is_alive():
                    if not self._stop:
                        self._emit(Fatal(_ended(proc)))
                    return
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                if not self._stop:
                    self._emit(Fatal(_ended(proc)))
                return
            if not self._handle(msg):
                return

    def _handle(self, msg: Any) -> bool:
        """One message from the child; False when the run must end."""
        match msg:
            case Ready(device):
                self.device = device
                self.model_ready = True
                self._emit(msg)
            case Fatal():
                self._emit(msg)
                return False
            case Result(prediction):
                self._emit(msg)
                self._finished_one(prediction.image_id)
            case Failed(image_id, _message):
                self._emit(msg)
                self._finished_one(image_id)
            case Dropped(image_id):
                with self._cv:
                    if image_id in self._in_flight:
                        self._in_flight.remove(image_id)
                    empty = not self._in_flight
                if empty:
                    self._emit(QueueCancelled())
            case ModelLoading():
                self._emit(msg)
            case _:
                log.warning("unknown message from the inference process: %s", type(msg).__name__)
        return True
