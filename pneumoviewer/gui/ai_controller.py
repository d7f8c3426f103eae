"""The AI worker's life cycle, out of the window: start it once, queue what is missing, relay results, stop it.

Results go into the `ReviewSession` (which keeps a summary and stores the mask); the controller then says so with
its signals. The session is told which bundle runs (its sha256), so it shows that model's results, stored ones
included; "Run AI" queues only the images without a result of this bundle (the session decides, by sha256);
"Re-run AI on all images" queues every image again. `AiStatus` shows the model, device and progress in the status
bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QToolButton

from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.gui.workers import InferenceWorker
from pneumoviewer.review.session import ReviewSession

log = logging.getLogger(__name__)

AI_PRIORITY_AHEAD = 3  # the image on screen and the next ones are predicted first


def bundle_model(bundle_dir: Path) -> ModelInfo | None:
    """The bundle's ModelInfo (with its sha256) from the manifest alone — no TensorFlow; None if unreadable."""
    from pneumoviewer.inference.bundle import read_manifest

    try:
        return read_manifest(bundle_dir).model_info
    except Exception:  # the worker reports why, when it tries to load it
        log.info("model bundle at %s not readable before the worker starts", bundle_dir, exc_info=True)
        return None


class AiController(QObject):
    """Owns the `InferenceWorker` (thread or child process) of the window."""

    modelInfo = Signal(object)  # ModelInfo
    modelReady = Signal(str)  # device
    modelFailed = Signal(str)
    predictionArrived = Signal(str, float)  # image_id, probability (the session holds the result)
    predictionFailed = Signal(str, str)  # image_id, message
    progress = Signal(int, int)  # done, total
    inferenceIdle = Signal()
    inferenceCancelled = Signal()
    queued = Signal(int, int)  # done, total: a run started
    started = Signal()  # the worker was started (it loads the model next)
    bundleChanged = Signal(str)  # set_bundle switched to this bundle folder

    def __init__(
        self,
        session: ReviewSession,
        bundle_dir: Path,
        mode: str,
        engine_factory: Callable[[str | None], Any] | None = None,
        run_ai: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.bundle_dir = Path(bundle_dir)
        self.mode = mode
        self.run_ai = run_ai
        self._factory = engine_factory
        self._worker: InferenceWorker | None = None
        self._model: ModelInfo | None = None
        self._sha: str | None = None
        self._sha_read = False
        self._manifest_read = False
        self._closing = False
        session.set_ai_model(self.model_key())

    # ------------------------------------------------------------------------------------------------ queries
    def has_model(self) -> bool:
        return self._factory is not None or (self.bundle_dir / "manifest.json").is_file()

    @property
    def worker(self) -> InferenceWorker | None:
        return self._worker

    def model_info(self) -> ModelInfo | None:
        """The model the worker reported; before that, the bundle's manifest says (no TensorFlow needed)."""
        if self._model is None and not self._manifest_read and self._factory is None and self.has_model():
            self._manifest_read = True
            self._model = bundle_model(self.bundle_dir)
        return self._model

    def classifier_threshold(self) -> float:
        """The bundle's classifier threshold (its "AI says positive"), else the config default."""
        from pneumoviewer.inference.bundle import read_manifest
        from pneumoviewer.inference.config import ModelConfig

        if self._factory is None and self.has_model():
            try:
                return float(read_manifest(self.bundle_dir).config.classifier_threshold)
            except Exception:  # an unreadable bundle: the worker says why when it loads it
                log.info("no threshold from the bundle at %s", self.bundle_dir, exc_info=True)
        return ModelConfig().classifier_threshold

    def bundle_sha256(self) -> str | None:
        """The sha256 of the bundle the worker runs (None with a test engine or an unreadable bundle)."""
        if not self._sha_read:
            self._sha_read = True
            info = bundle_model(self.bundle_dir) if self._factory is None and self.has_model() else None
            self._sha = info.sha256 if info is not None else None
        return self._sha

    def model_key(self) -> str | None:
        """What the session keys AI results by: the bundle's sha256 ('' for an engine of unknown identity, a test
        engine), None without a model (the session then shows each image's newest stored result)."""
        return (self.bundle_sha256() or "") if self.has_model() else None

    # ------------------------------------------------------------------------------------------------ life cycle
    def ensure_worker(self) -> None:
        """Start the worker once (its process loads TensorFlow while the folder is being indexed)."""
        if self._worker is not None or self._closing or not self.has_model():
            return
        worker = InferenceWorker(self.bundle_dir, self.mode, self._factory, parent=self)
        worker.modelInfo.connect(self._on_model_info)
        worker.ready.connect(self.modelReady)
        worker.fatal.connect(self.modelFailed)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)
        worker.progress.connect(self.progress)
        worker.idle.connect(self.inferenceIdle)
        worker.cancelled.connect(self.inferenceCancelled)
        self._worker = worker
        worker.start()
        self.started.emit()

    def start(self, order: Sequence[str], rerun: bool = False) -> int:
        """Queue the images without a result of this bundle (`rerun`: all), in `order`, the one on screen first.
        Returns how many are pending."""
        if self._closing or not self.has_model() or not self.session.image_ids():
            return 0
        self.ensure_worker()
        worker = self._worker
        assert worker is not None
        if rerun:
            worker.forget()
        ids = self.session.ai_queue([*order, *self.session.image_ids()], self.bundle_sha256(), rerun=rerun)
        worker.enqueue((i, p) for i in ids if (p := self.session.path(i)) is not None)
        self.prioritize()
        pending = worker.pending()
        if pending:
            results, errors = self.session.ai_counts()
            done = min(results + errors, len(self.session.image_ids()) - pending)
            self.queued.emit(max(done, 0), max(done, 0) + pending)
        return pending

    def prioritize(self, ahead: Sequence[str] = ()) -> None:
        """The image on screen and the next ones first."""
        current = self.session.current
        if self._worker is not None and current is not None:
            self._worker.prioritize([current, *ahead])

    def cancel(self) -> None:
        """Stop AI for the rest of the folder (the image in progress finishes); Run AI resumes."""
        if self._worker is not None:
            self._worker.cancel()

    def forget(self) -> None:
        """A new folder: nothing queued, nothing remembered as done."""
        if self._worker is not None:
            self._worker.forget()

    def set_bundle(self, bundle_dir: Path) -> bool:
        """Use another bundle from now on (AI ▸ Model…, or a folder's own model): the running worker is stopped and
        the model and its sha256 forgotten; the next run starts a worker on the new bundle. The session shows the
        new bundle's stored results (the previous one's stay in the store, shown again when it is chosen again; no
        reviewer's mask changes). False when it is the bundle already in use."""
        new = Path(bundle_dir)
        if new.resolve() == self.bundle_dir.resolve():
            return False
        if self._worker is not None:
            self._worker.stop()
            self._worker.deleteLater()
            self._worker = None
        self.bundle_dir = new
        self._model, self._sha, self._sha_read, self._manifest_read = None, None, False, False
        self.session.set_ai_model(self.model_key())
        self.bundleChanged.emit(str(new))
        return True

    def stop(self) -> None:
        """Stop and join the worker (window close)."""
        self._closing = True
        if self._worker is not None:
            self._worker.stop()

    # ------------------------------------------------------------------------------------------------ results
    def _on_model_info(self, info: ModelInfo) -> None:
        self._model = info
        self.modelInfo.emit(info)

    def _on_result(self, prediction: Prediction) -> None:
        summary = self.session.add_prediction(prediction)
        if summary is not None:
            self.predictionArrived.emit(summary.image_id, summary.probability)

    def _on_error(self, image_id: str, message: str) -> None:
        if image_id in self.session:
            self.session.add_ai_error(image_id, message)
            self.predictionFailed.emit(image_id, message)


class AiStatus(QObject):
    """The status-bar end of the AI: model · device label, progress bar and stop button."""

    def __init__(self, ai: AiController, stop_action: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ai = ai
        self.device_label = QLabel("AI: no model")
        self.device_label.setToolTip("Model and device the AI runs on")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(140)
        self.progress.setFormat("AI %v/%m")
        self.progress.setVisible(False)
        self.stop = QToolButton()
        self.stop.setDefaultAction(stop_action)
        self.stop.setVisible(False)
        self._stop_action = stop_action
        stop_action.setEnabled(False)
        ai.started.connect(lambda: self.device_label.setText("AI: starting…"))
        ai.modelInfo.connect(self._on_info)
        ai.modelReady.connect(self._on_ready)
        ai.modelFailed.connect(self._on_failed)
        ai.queued.connect(self._on_queued)
        ai.progress.connect(self._on_progress)
        ai.inferenceIdle.connect(self.hide)
        ai.inferenceCancelled.connect(self.hide)
        if not ai.has_model():
            self.device_label.setToolTip(f"No model bundle at {ai.bundle_dir}; images can be reviewed without AI")

    def show_bundle(self) -> None:
        """Another bundle is in use (nothing loaded yet): its name, or 'no model'."""
        self.hide()
        info = self.ai.model_info()
        if not self.ai.has_model():
            self.device_label.setText("AI: no model")
            self.device_label.setToolTip(f"No model bundle at {self.ai.bundle_dir}; images can be reviewed without AI")
        else:
            self.device_label.setText(f"AI: {info.title}" if info is not None else "AI: model")
            self.device_label.setToolTip(info.label if info is not None else str(self.ai.bundle_dir))

    def widgets(self) -> tuple[QProgressBar, QToolButton, QLabel]:
        return self.progress, self.stop, self.device_label

    def hide(self) -> None:
        self.progress.setVisible(False)
        self.stop.setVisible(False)
        self._stop_action.setEnabled(False)

    def _on_info(self, info: ModelInfo) -> None:
        self.device_label.setText(f"AI: {info.title} · loading…")

    def _on_ready(self, device: str) -> None:
        info = self.ai.model_info()
        self.device_label.setText(f"AI: {info.title} · {device}" if info else f"AI: model · {device}")
        self.device_label.setToolTip(info.label if info else "")

    def _on_failed(self, message: str) -> None:
        self.device_label.setText("AI: no model")
        self.device_label.setToolTip(message)
        self.hide()

    def _on_queued(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setVisible(True)
        self.stop.setVisible(True)
        self._stop_action.setEnabled(True)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
