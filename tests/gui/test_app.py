"""Start-up: the entry point, the demo studies on first run, and no TensorFlow in the GUI process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pneumoviewer.gui import folders as mw

CHILD = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QTimer
    from pneumoviewer.app import create_app

    app, w = create_app(sys.argv[1:])
    seen = {}
    w.parts.nav.imagePainted.connect(lambda i: seen.setdefault("painted", i))
    w.parts.ai.modelReady.connect(lambda d: seen.setdefault("device", d))
    w.parts.ai.modelFailed.connect(lambda m: seen.setdefault("model_failed", m))
    w.parts.ai.predictionArrived.connect(lambda i, p: seen.setdefault("prediction", i))

    def check():
        if "painted" in seen and (not w.parts.ai.has_model() or "prediction" in seen or "model_failed" in seen):
            app.quit()

    timer = QTimer(); timer.timeout.connect(check); timer.start(50)
    QTimer.singleShot(120000, app.quit)
    app.exec()
    seen["tensorflow_imported"] = "tensorflow" in sys.modules
    seen["keras_imported"] = "keras" in sys.modules
    seen["has_model"] = w.parts.ai.has_model()
    w.close()
    print("RESULT" + json.dumps(seen))
    """
)


def test_the_window_process_never_imports_tensorflow(phantom_dataset, tmp_path):
    """Open a folder with the default (shipped) model, AI included: TensorFlow stays out of the GUI process."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PNEUMOVIEWER_MODELS", None)  # the real default bundle when it is shipped
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(phantom_dataset.root)], env=env, capture_output=True, text=True, timeout=180
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, proc.stdout + proc.stderr
    seen = json.loads(line[len("RESULT") :])
    assert seen["painted"] in phantom_dataset.image_ids
    assert seen["tensorflow_imported"] is False
    assert seen["keras_imported"] is False
    if seen["has_model"]:
        assert "model_failed" in seen or seen.get("prediction") in phantom_dataset.image_ids


def test_cli_maps_open_and_folder_arguments():
    from pneumoviewer.cli import build_parser

    args = build_parser().parse_args(["open", "/tmp", "--no-ai", "--inference", "thread"])
    assert args.folder == "/tmp" and args.no_ai and args.inference == "thread"
    args = build_parser().parse_args(["open"])
    assert args.folder is None


def test_the_demo_studies_are_generated_once_in_the_background(make_window, qtbot, monkeypatch):
    monkeypatch.setattr(mw, "DEMO_IMAGES", 3)
    monkeypatch.setattr(mw, "DEMO_SIZE", 128)
    w = make_window(run_ai=False)
    folder = mw.demo_folder()
    assert not mw.demo_ready(folder)
    with qtbot.waitSignal(w.parts.folders.demoReady, timeout=60000) as ready:
        w.parts.folders.open_demo()
        assert w.task_progress.isVisible()  # progress shown while generating
    assert Path(ready.args[0]) == folder
    with qtbot.waitSignal(w.parts.folders.scanFinished, timeout=30000) as scan:
        pass
    assert scan.args == [3, 0]
    qtbot.waitUntil(lambda: w.parts.viewer.image is not None)
    stamp = (folder / ".complete").stat().st_mtime_ns
    w2 = make_window(run_ai=False)
    with qtbot.waitSignal(w2.parts.folders.scanFinished, timeout=30000):
        w2.parts.folders.open_demo()  # already there: opened directly, not regenerated
    assert (folder / ".complete").stat().st_mtime_ns == stamp


def test_closing_during_demo_generation_stops_it(make_window, qtbot, monkeypatch):
    monkeypatch.setattr(mw, "DEMO_IMAGES", 50)
    monkeypatch.setattr(mw, "DEMO_SIZE", 256)
    w = make_window(run_ai=False)
    w.parts.folders.open_demo()
    qtbot.waitUntil(lambda: w.task_progress.value() >= 1, timeout=60000)
    thread = w.parts.folders.demo_thread
    w.close()
    assert not thread.isRunning()
    assert not mw.demo_ready(mw.demo_folder())  # incomplete: regenerated next time


@pytest.mark.parametrize("argv", [["--help"]])
def test_open_help_runs_without_qt(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "pneumoviewer", "open", *argv], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert "folder" in proc.stdout


def test_demo_studies_without_the_phantom_mark_are_regenerated(tmp_path):
    """Older demo studies (no phantom mark, which the synthetic-model guard reads) are not taken as ready."""
    from pneumoviewer.gui.folders import DEMO_STAMP, demo_ready

    folder = tmp_path / "demo"
    folder.mkdir()
    assert not demo_ready(folder)
    (folder / ".complete").write_text("n=24 size=1024 seed=0\n", encoding="utf-8")  # an older generator's stamp
    assert not demo_ready(folder)
    (folder / ".complete").write_text(DEMO_STAMP, encoding="utf-8")
    assert demo_ready(folder)
