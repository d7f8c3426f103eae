"""Fixtures for the GUI tests: a themed QApplication, windows that are always shut down, a tiny test engine."""

from __future__ import annotations

import functools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

# A deterministic, TensorFlow-free engine with the InferenceEngine interface, for driving the worker's threading
# (queueing, errors, cancel, close). It is written to its own module on sys.path so the spawned inference child
# can import it by name exactly as it imports the real engine.
ENGINE_SOURCE = textwrap.dedent(
    """
    import time
    import numpy as np
    from pneumoviewer.core.types import ModelInfo, Prediction


    class ThresholdEngine:
        def __init__(self, bundle_dir, delay=0.0, load_delay=0.0, fail_ids=(), synthetic=True):
            self.bundle_dir = bundle_dir
            self.delay = delay
            self.load_delay = load_delay
            self.fail_ids = set(fail_ids)
            self.model_info = ModelInfo("threshold-test", "0.1", synthetic=synthetic)
            self.device = "CPU"

        def load(self):
            time.sleep(self.load_delay)

        def predict(self, image):
            time.sleep(self.delay)
            if image.meta.image_id in self.fail_ids:
                raise ValueError(f"{image.path}: refused by the test engine")
            d = image.display
            mask = d < np.quantile(d, 0.05)
            probability = float(np.clip(d[: d.shape[0] // 2].mean(), 0.0, 1.0))
            return Prediction(image.meta.image_id, probability, mask, self.model_info, device=self.device)
    """
)


@pytest.fixture(scope="session")
def engine_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("engines")
    (folder / "pv_test_engines.py").write_text(ENGINE_SOURCE, encoding="utf-8")
    sys.path.insert(0, str(folder))
    import pv_test_engines

    return pv_test_engines


@pytest.fixture
def engine_factory(engine_module: Any) -> Callable[..., Any]:
    """engine_factory(delay=…, load_delay=…, fail_ids=…, synthetic=…) -> a picklable factory(bundle_dir)."""

    def make(**kwargs: Any) -> Any:
        return functools.partial(engine_module.ThresholdEngine, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _app_identity(qapp: QApplication) -> None:
    from pneumoviewer.gui.theme import apply_dark_theme

    qapp.setOrganizationName("PneumoViewerTests")
    qapp.setApplicationName("PneumoViewerTests")
    if not qapp.styleSheet():
        apply_dark_theme(qapp)


@pytest.fixture
def make_window(
    qtbot: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    """Build the app's window (`app.build_window(**kwargs)`), shown; every window is closed (workers joined) at the
    end of the test. Review stores go to a folder of this test session, not into shared fixture folders (which would
    otherwise carry statuses and the worklist position from one test into the next)."""
    import hashlib

    from pneumoviewer.app import build_window
    from pneumoviewer.review import ReviewStore

    monkeypatch.setenv("PNEUMOVIEWER_MODELS", str(tmp_path / "no-models"))  # no bundle unless a test passes one
    base = tmp_path_factory.mktemp("review-stores")

    def open_store(folder: Any) -> ReviewStore:
        root = Path(folder).resolve()
        key = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
        return ReviewStore(base / key / "review.sqlite", folder=root)

    windows: list[Any] = []

    def make(**kwargs: Any) -> Any:
        """auto_advance=True / False sets Review ▸ Auto-advance first (default False: most tests decide image by
        image and check that image; the auto-advance tests pass True, or None to keep what the last window saved)."""
        from pneumoviewer.gui.settings import Settings

        auto_advance = kwargs.pop("auto_advance", False)
        if auto_advance is not None:
            Settings().set_auto_advance(auto_advance)
        kwargs.setdefault("open_store", open_store)
        w = build_window(**kwargs)
        w.resize(1280, 800)
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        worker = w.parts.ai.worker
        assert worker is None or not worker.isRunning()
        assert not w.parts.nav.loader.isRunning()


def open_and_wait(qtbot: Any, window: Any, folder: Path, timeout: int = 20000) -> tuple[int, int]:
    """Open `folder` and wait until the scan finished and the first image is painted."""
    with qtbot.waitSignal(window.parts.folders.scanFinished, timeout=timeout) as scan:
        window.parts.folders.open_folder(folder)
    n, failed = scan.args
    if n:
        qtbot.waitUntil(lambda: window.parts.viewer.image is not None, timeout=timeout)
    return n, failed


def send_drag(widget: QWidget, button: Qt.MouseButton, start: QPoint, end: QPoint, steps: int = 12) -> None:
    """A real press → moves → release sequence on `widget` (QTest cannot hold a button during moves on all Qt6s)."""

    def event(kind: QMouseEvent.Type, pos: QPoint, which: Qt.MouseButton, held: Qt.MouseButton) -> None:
        p = QPointF(pos)
        ev = QMouseEvent(kind, p, QPointF(widget.mapToGlobal(pos)), which, held, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, ev)

    none = Qt.MouseButton.NoButton
    event(QMouseEvent.Type.MouseButtonPress, start, button, button)
    for i in range(1, steps + 1):
        t = i / steps
        pos = QPoint(round(start.x() + (end.x() - start.x()) * t), round(start.y() + (end.y() - start.y()) * t))
        event(QMouseEvent.Type.MouseMove, pos, none, button)
    event(QMouseEvent.Type.MouseButtonRelease, end, button, none)
