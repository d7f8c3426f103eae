"""Background work owned by the main window: folder scans / demo generation, image decoding ahead, AI inference.

Every worker is a QThread the window creates, keeps, stops and waits for on close. Results and errors reach the GUI
thread only through signals (queued across threads); no worker touches a widget.

Inference runs, by default, in a child process (`pneumoviewer.inference.child`, driven by the Qt-free
`inference.client.InferenceClient`): the GUI interpreter never imports TensorFlow and never shares its GIL with
TensorFlow's graph tracing. `mode="thread"` runs the same client's engine in the QThread instead; the GUI-stall
benchmark measures both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from pneumoviewer.core.types import Cancelled, Prediction
from pneumoviewer.inference.client import InferenceClient  # imported here, not in the worker thread (GIL)
from pneumoviewer.inference.protocol import (
    ClientEvent,
    Failed,
    Fatal,
    Idle,
    ModelLoading,
    Progress,
    QueueCancelled,
    Ready,
    Result,
)
from pneumoviewer.io.dicom.display import window_to_levels

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


# ---------------------------------------------------------------------------------------------------------------------
# One-shot tasks: scan a folder, generate the demo studies


PROGRESS_S = 0.25  # a task's progress reaches the GUI at most this often: each QProgressBar.setValue that changes
# its text repaints the window at once (synchronously, with whatever else is dirty), so 20/s cost a 12k scan seconds


class TaskThread(QThread):
    """Runs `fn(progress, cancel)` once; progress is throttled to one update per `PROGRESS_S` (and the last)."""

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
        if done >= total or now - self._last_emit >= PROGRESS_S:
            self._last_emit = now
            self.progress.emit(int(done), int(total))

    def run(self) -> None:
        try:
            result = self._fn(self._progress, self._cancel.is_set)
        except Cancelled:
            self.cancelled.emit()
            return
        except Exception as exc:
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                log.exception("%s task failed", self.objectName())  # the traceback goes to the log file
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


class Batches(QObject):
    """Items a worker thread produces, handed to a GUI-thread `handle(items)` in batches.

    Why: one queued signal per item floods the GUI thread (12,000 scan rows or AI results posted while it was busy
    are all delivered in one go, a stall of seconds). Here the worker thread only appends under a lock and wakes
    the GUI thread once; the GUI thread takes the first items at once, then at most every `interval_ms`, and never
    more than `max_items` per turn of the event loop (the rest in the next turns, so painting and input go on).
    `finish(then)` runs `then()` once everything put so far has been handled.
    """

    _wake = Signal()

    def __init__(
        self, handle: Callable[[list[Any]], None], interval_ms: int = 100, max_items: int = 1000, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self._handle = handle
        self._interval = int(interval_ms)
        self._max = max(1, int(max_items))
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self._woken = False
        self._then: Callable[[], None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._drain)
        self._wake.connect(self._on_wake)  # queued when put() runs on a worker thread

    def put(self, item: Any) -> None:
        """Any thread: add one item (the GUI thread is woken once per batch, not per item)."""
        with self._lock:
            self._items.append(item)
            wake, self._woken = not self._woken, True
        if wake:
            self._wake.emit()

    def pending(self) -> int:
        with self._lock:
            return len(self._items)

    def finish(self, then: Callable[[], None]) -> None:
        """GUI thread: handle what is waiting now (in turns of `max_items`), then call `then()` once."""
        self._then = then
        self._timer.stop()
        self._drain()

    def clear(self) -> None:
        """Drop what is waiting (the folder it belongs to was closed); a pending `finish` is forgotten."""
        with self._lock:
            self._items.clear()
            self._woken = False
        self._then = None
        self._timer.stop()

    def _on_wake(self) -> None:
        if not self._timer.isActive():  # else the running interval (or the next turn) takes them
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            batch = self._items[: self._max]
            del self._items[: self._max]
            more = bool(self._items)
            if not more:
                self._woken = False
        if batch:
            self._handle(batch)
        if more:
            self._timer.start(0)  # the next turn of the event loop: paints and input first
            return
        if batch:
            self._timer.start(self._interval)
        then, self._then = self._then, None
        if then is not None:
            then()


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
    """The plain (center, width) ramp of the viewer that equals DICOM's window (`io.dicom.display.window_to_levels`
    owns the LINEAR convention: black at c - 0.5 - (w - 1) / 2, white at c - 0.5 + (w - 1) / 2)."""
    center, width = float(window[0]), float(window[1])
    if function == "LINEAR" and width > 1:
        low, high = window_to_levels(center, width)
        return (low + high) / 2.0, high - low
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
                log.warning("could not decode one image for display", exc_info=True)
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

EVENT_BATCH_MS = 100  # the AI's events reach the GUI thread at most this often (the first one at once) ...
EVENT_BATCH_MAX = 100  # ... and at most this many per turn of its event loop (~50 results: ~10-20 ms of work)


class InferenceWorker(QThread):
    """A thin QThread around `pneumoviewer.inference.client.InferenceClient`: its events become signals, in order,
    through one `Batches` stream (results in lists: a burst costs a signal per batch, not per image).

    `mode="process"` (default): a child process does the TensorFlow work; `mode="thread"`: the engine runs in this
    QThread. `engine_factory(bundle_dir)` replaces `InferenceEngine` (a tiny engine in tests; must be picklable and
    importable by the child for process mode).
    """

    modelInfo = Signal(object)  # ModelInfo, as soon as the manifest is read (before TensorFlow loads)
    ready = Signal(str)  # device ('CPU', 'GPU: …') once the model is loaded and warmed up
    fatal = Signal(str)  # the model could not be loaded: the app goes on without AI
    results = Signal(object)  # list[Prediction], on the GUI thread in batches (`Batches`: a burst never floods it)
    error = Signal(str, str)  # image_id, message (the worker goes on with the next image)
    progress = Signal(int, int)  # done, total
    idle = Signal()  # queue empty, nothing in flight
    cancelled = Signal()

    def __init__(
        self,
        bundle_dir: str | Path | None = None,
        mode: str = "process",
        engine_factory: Callable[[str | None], Any] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inference")
        self.client = InferenceClient(self._relay, bundle_dir, mode, engine_factory)
        self.mode = mode
        self._events = Batches(self._dispatch, EVENT_BATCH_MS, EVENT_BATCH_MAX, parent=self)

    def _relay(self, event: ClientEvent) -> None:
        """Inference thread: every event joins one ordered stream, taken on the GUI thread in batches."""
        self._events.put(event)

    def _dispatch(self, events: list[ClientEvent]) -> None:
        """GUI thread: the events in order as signals; the results (and the latest progress) between two other
        events go out as one `results` list, so a burst costs one signal, not one per image."""
        results: list[Prediction] = []
        progress: tuple[int, int] | None = None
        for event in events:
            match event:
                case Result(prediction):
                    results.append(prediction)
                    continue
                case Progress(done, total):
                    progress = (done, total)
                    continue
            if results:
                self.results.emit(results)
                results = []
            if progress is not None:
                self.progress.emit(*progress)
                progress = None
            match event:
                case ModelLoading(model):
                    self.modelInfo.emit(model)
                case Ready(device):
                    self.ready.emit(device)
                case Fatal(message):
                    self.fatal.emit(message)
                case Failed(image_id, message):
                    self.error.emit(image_id, message)
                case Idle():
                    self.idle.emit()
                case QueueCancelled():
                    self.cancelled.emit()
        if results:
            self.results.emit(results)
        if progress is not None:
            self.progress.emit(*progress)

    @property
    def model_ready(self) -> bool:
        return self.client.model_ready

    @property
    def device(self) -> str | None:
        return self.client.device

    def enqueue(self, items: Iterable[tuple[str, str | Path]]) -> None:
        self.client.enqueue(items)

    def prioritize(self, image_ids: Sequence[str]) -> None:
        self.client.prioritize(image_ids)

    def cancel(self) -> None:
        self.client.cancel()

    def forget(self) -> None:
        self.client.forget()

    def pending(self) -> int:
        return self.client.pending()

    def run(self) -> None:
        self.client.run()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop and join: the child process is told to quit (killed if it does not); returns True once ended."""
        self.client.request_stop()
        if not self.isRunning():
            return True
        ok = self.wait(int(timeout_s * 1000))
        if not ok:
            self.client.kill()
            ok = self.wait(5000)
        if ok:
            self.client.abandon()
        return bool(ok)
