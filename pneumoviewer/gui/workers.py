"""Background work owned by the main window: folder scans / demo generation, image decoding ahead, AI inference.

Every worker is a QThread the window creates, keeps, stops and waits for on close. Results and errors reach the GUI
thread only through signals (queued across threads); no worker touches a widget.

Inference runs, by default, in a child process (`inference_child`): the GUI interpreter never imports TensorFlow and
never shares its GIL with TensorFlow's graph tracing. `mode="thread"` runs the engine in this QThread instead (warm-up
first, before any image is waited for); the GUI-stall benchmark measures both.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

# ChildProcess imported here, not in the worker thread (GIL)
from pneumoviewer.gui.inference_child import ChildProcess, describe_error

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised inside a task when the user (or closing the window) cancelled it."""


# ---------------------------------------------------------------------------------------------------------------------
# One-shot tasks: scan a folder, generate the demo studies


class TaskThread(QThread):
    """Runs `fn(progress, cancel)` once; progress is throttled to ~20 updates/s."""

    progress = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[[ProgressFn, CancelFn], Any], name: str = "task", parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._fn = fn
        self._cancel = threading.Event()
        self._last_emit = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_emit >= 0.05:
            self._last_emit = now
            self.progress.emit(int(done), int(total))

    def run(self) -> None:
        try:
            result = self._fn(self._progress, self._cancel.is_set)
        except Exception as exc:
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(str(exc) or type(exc).__name__)
            return
        if self._cancel.is_set():
            self.cancelled.emit()
        else:
            self.succeeded.emit(result)

    def stop(self) -> None:
        """Cancel and wait until the thread has ended (the task checks for cancel at every progress step)."""
        self._cancel.set()
        self.wait()


# ---------------------------------------------------------------------------------------------------------------------
# Decoding ahead for display


@dataclass
class LoadedImage:
    """What the viewer needs, prepared off the GUI thread."""

    image: Any  # pneumoviewer.io.dicom.DicomImage
    data: np.ndarray  # values for the image item (modality values, or the pipeline's display for non-linear VOI)
    window: tuple[float, float]  # default (center, width) in `data` units
    monochrome1: bool  # flip the LUT (low values white)
    load_seconds: float = 0.0

    @property
    def image_id(self) -> str:
        return self.image.meta.image_id


def prepare_for_display(image: Any) -> tuple[np.ndarray, tuple[float, float], bool]:
    """Item data + default window + inversion for a DicomImage.

    Linear pipelines show modality values windowed by levels (re-windowing is free, the raw array untouched); a VOI
    LUT sequence or SIGMOID function cannot be expressed as levels, so those show the pipeline's own display image
    (window (0.5, 1), already inverted) and W/L then acts on display units.
    """
    linear = getattr(image, "window_source", "") != "voi_lut" and getattr(image, "voi_function", "LINEAR") != "SIGMOID"
    if linear and hasattr(image, "modality_pixels"):
        data = np.ascontiguousarray(image.modality_pixels(), dtype=np.float32)
        if data.ndim == 2:
            return data, levels_window(image.window, getattr(image, "voi_function", "LINEAR")), bool(image.invert)
    return np.ascontiguousarray(image.display, dtype=np.float32), (0.5, 1.0), False


def levels_window(window: tuple[float, float], function: str = "LINEAR") -> tuple[float, float]:
    """The (center, width) whose plain linear ramp equals DICOM's window: LINEAR maps c - 0.5 ± (w - 1) / 2."""
    center, width = float(window[0]), float(window[1])
    if function == "LINEAR" and width > 1:
        return center - 0.5, width - 1.0
    return center, width


def load_for_display(path: str | Path) -> LoadedImage:
    from pneumoviewer.io.dicom import load_image

    t0 = time.perf_counter()
    image = load_image(path)
    data, window, mono1 = prepare_for_display(image)
    return LoadedImage(image, data, window, mono1, time.perf_counter() - t0)


class ImageLoader(QThread):
    """Decodes images for display in the background, most recent urgent request first."""

    loaded = Signal(str, object)  # image_id, LoadedImage
    failed = Signal(str, str)  # image_id, message

    def __init__(self, load: Callable[[str | Path], LoadedImage] = load_for_display, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("image-loader")
        self._load = load
        self._queue: OrderedDict[str, Path] = OrderedDict()
        self._cv = threading.Condition()
        self._stop = False

    def request(self, image_id: str, path: str | Path, urgent: bool = False) -> None:
        with self._cv:
            if image_id in self._queue:
                if urgent:
                    self._queue.move_to_end(image_id, last=False)
            else:
                self._queue[image_id] = Path(path)
                if urgent:
                    self._queue.move_to_end(image_id, last=False)
            self._cv.notify()

    def clear(self) -> None:
        with self._cv:
            self._queue.clear()

    def run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                image_id, path = self._queue.popitem(last=False)
            try:
                item = self._load(path)
            except Exception as exc:
                self.failed.emit(image_id, str(exc) or type(exc).__name__)
                continue
            self.loaded.emit(image_id, item)

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._queue.clear()
            self._cv.notify_all()
        self.wait()


# ---------------------------------------------------------------------------------------------------------------------
# AI inference


class InferenceWorker(QThread):
    """Loads the model bundle once, then predicts the queued images: prioritised ones first, then the rest.

    `mode="process"` (default): a child process does the TensorFlow work (see `inference_child`); this thread only
    feeds it paths and relays results (it waits in `poll`, holding no GIL). `mode="thread"`: the engine runs here.
    `engine_factory(bundle_dir)` replaces `InferenceEngine` (a tiny engine in tests; must be picklable and importable
    by the child for process mode).
    """

    modelInfo = Signal(object)  # ModelInfo, as soon as the manifest is read (before TensorFlow loads)
    ready = Signal(str)  # device ('CPU', 'GPU: …') once the model is loaded and warmed up
    fatal = Signal(str)  # the model could not be loaded: the app goes on without AI
    result = Signal(object)  # Prediction
    error = Signal(str, str)  # image_id, message (the worker goes on with the next image)
    progress = Signal(int, int)  # done, total
    idle = Signal()  # queue empty, nothing in flight
    cancelled = Signal()

    IN_FLIGHT = 2  # requests handed to the child at once: it decodes the next image while predicting this one

    def __init__(
        self,
        bundle_dir: str | Path | None = None,
        mode: str = "process",
        engine_factory: Callable[[str | None], Any] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        if mode not in ("process", "thread"):
            raise ValueError(f"inference mode must be 'process' or 'thread', got {mode!r}")
        self.setObjectName("inference")
        self.mode = mode
        self.bundle_dir = None if bundle_dir is None else str(bundle_dir)
        self._factory = engine_factory
        self._cv = threading.Condition()
        self._queue: OrderedDict[str, Path] = OrderedDict()
        self._in_flight: deque[str] = deque()
        self._done: set[str] = set()
        self._total = 0
        self._stop = False
        self._cancel_pending = False
        self._was_busy = False
        self.model_ready = False
        self.device: str | None = None
        self._proc: Any = None

    # -- queue (GUI thread) --------------------------------------------------------------------------------------------
    def enqueue(self, items: Iterable[tuple[str, str | Path]]) -> None:
        """Add images (in order) that have no result yet; already predicted ones are skipped."""
        with self._cv:
            for image_id, path in items:
                if image_id not in self._done and image_id not in self._queue and image_id not in self._in_flight:
                    self._queue[image_id] = Path(path)
            self._total = len(self._done) + len(self._queue) + len(self._in_flight)
            self._cv.notify_all()

    def prioritize(self, image_ids: Sequence[str]) -> None:
        """Move these ids (in this order) to the front of the queue: the image on screen and the next ones."""
        with self._cv:
            for image_id in reversed(list(image_ids)):
                if image_id in self._queue:
                    self._queue.move_to_end(image_id, last=False)
            self._cv.notify_all()

    def cancel(self) -> None:
        """Drop every queued image (the one being predicted finishes); the model stays loaded for later requests."""
        with self._cv:
            self._queue.clear()
            self._cancel_pending = True
            self._total = len(self._done) + len(self._in_flight)
            self._cv.notify_all()

    def forget(self) -> None:
        """A new folder: clear the queue and the record of finished images."""
        with self._cv:
            self._queue.clear()
            self._done.clear()
            self._cancel_pending = True
            self._total = len(self._in_flight)
            self._cv.notify_all()

    def pending(self) -> int:
        with self._cv:
            return len(self._queue) + len(self._in_flight)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop and join: the child process is told to quit (killed if it does not); returns True once ended."""
        with self._cv:
            self._stop = True
            self._queue.clear()
            self._cv.notify_all()
        if not self.isRunning():
            return True
        ok = self.wait(int(timeout_s * 1000))
        if not ok and self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            ok = self.wait(5000)
        if ok:
            with self._cv:
                self._in_flight.clear()  # abandoned with the child
        return bool(ok)

    # -- thread body -------------------------------------------------------------------------------------------------
    def run(self) -> None:
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
        self.progress.emit(done, total)
        if empty:
            self.idle.emit()

    def _run_thread(self) -> None:
        try:
            engine = self._make_engine()
            self.modelInfo.emit(engine.model_info)
            engine.load()
            self.device = str(engine.device)
        except Exception as exc:
            self.fatal.emit(describe_error(exc))
            return
        if self._stop:
            return
        self.model_ready = True
        self.ready.emit(self.device)
        from pneumoviewer.io.dicom import load_image

        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    if self._cancel_pending:
                        self._cancel_pending = False
                        self.cancelled.emit()
                    self._cv.wait()
                if self._stop:
                    return
                item = self._next()
            assert item is not None
            image_id, path = item
            try:
                prediction = engine.predict(load_image(path))
            except Exception as exc:
                self.error.emit(image_id, describe_error(exc))
            else:
                self.result.emit(prediction)
            self._finished_one(image_id)

    def _make_engine(self) -> Any:
        if self._factory is not None:
            return self._factory(self.bundle_dir)
        from pneumoviewer.inference.engine import InferenceEngine

        return InferenceEngine(self.bundle_dir)

    def _run_process(self) -> None:
        try:
            proc = ChildProcess.start(self.bundle_dir, self._factory)
        except Exception as exc:
            self.fatal.emit(f"could not start the inference process: {describe_error(exc)}")
            return
        self._proc = proc
        try:
            self._serve(proc.conn, proc)
        finally:
            proc.shutdown()

    def _serve(self, conn: Any, proc: Any) -> None:
        while True:
            with self._cv:
                if self._stop:
                    return
                sends: list[tuple[Any, ...]] = []
                if self._cancel_pending and self.model_ready:
                    self._cancel_pending = False
                    sends.append(("cancel",))
                    if not self._in_flight:
                        self.cancelled.emit()
                while self.model_ready and len(self._in_flight) < self.IN_FLIGHT:
                    item = self._next()
                    if item is None:
                        break
                    sends.append(("predict", item[0], str(item[1])))
            for msg in sends:
                conn.send(msg)
            if not conn.poll(0.02):
                if not proc.is_alive():
                    if not self._stop:
                        self.fatal.emit(f"the inference process ended unexpectedly (exit code {proc.exitcode})")
                    return
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                if not self._stop:
                    self.fatal.emit("the inference process closed its connection")
                return
            kind = msg[0]
            if kind == "info":
                self.modelInfo.emit(msg[1])
            elif kind == "ready":
                self.device = msg[1]
                self.model_ready = True
                self.ready.emit(msg[1])
            elif kind == "fatal":
                self.fatal.emit(msg[1])
                return
            elif kind == "result":
                prediction = msg[1]
                self.result.emit(prediction)
                self._finished_one(prediction.image_id)
            elif kind == "error":
                self.error.emit(msg[1], msg[2])
                self._finished_one(msg[1])
            elif kind == "cancelled":
                with self._cv:
                    if msg[1] in self._in_flight:
                        self._in_flight.remove(msg[1])
                    empty = not self._in_flight
                if empty:
                    self.cancelled.emit()
