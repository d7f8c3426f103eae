"""The AI child process: its stderr (fd 2: TensorFlow's C++ lines too) goes to the log file, never to the reader's
terminal, while what the reader must know still arrives through the protocol; it quits without making the window's
close wait."""

from __future__ import annotations

import re
import sys
import textwrap
import time

import pytest

from pneumoviewer.core.logs import log_path
from pneumoviewer.inference.child import ChildProcess
from pneumoviewer.inference.protocol import Failed, Fatal, ModelLoading, Predict, Ready, Result

# An engine whose load() writes to fd 2 below Python, as TensorFlow's C++ logging does on a CPU machine.
NATIVE_ENGINE = textwrap.dedent(
    """
    import os
    import time
    from pneumoviewer.core.types import ModelInfo

    class NativeNoiseEngine:
        model_info = ModelInfo("native-noise", "0", synthetic=True)
        device = "CPU"

        def __init__(self, bundle_dir):
            pass

        def load(self):
            os.write(2, b"E0000 00:00:1 12 cuda_platform.cc:52] failed call to cuInit: test noise\\n")


    class CrashingEngine(NativeNoiseEngine):
        def load(self):
            os.write(2, b"F0000 native abort of the test engine\\n")
            os._exit(3)  # a native crash: no Python exception, no protocol message


    class EndlessLoadEngine(NativeNoiseEngine):
        def load(self):
            time.sleep(3600)  # TensorFlow still importing: no message is read meanwhile

        def predict(self, image):
            raise RuntimeError("not reached: the test sends only unreadable paths")
    """
)

# TensorFlow / absl native log lines: "E0000 00:00:…", "W0000 …", and absl's own preamble.
TF_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:|absl::InitializeLog|cuInit|cudart", re.MULTILINE)


def _receive(child: ChildProcess, kinds: tuple[type, ...], timeout_s: float) -> object:
    """The child's next message of one of `kinds` (others skipped), within a bounded poll."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.conn.poll(0.2):
            msg = child.conn.recv()
            if isinstance(msg, kinds):
                return msg
        elif not child.is_alive():
            raise AssertionError(f"the child ended (exit code {child.exitcode})")
    raise AssertionError(f"no {kinds} from the child in {timeout_s} s")


@pytest.fixture
def native_engine(tmp_path, monkeypatch):
    (tmp_path / "pv_native_engine.py").write_text(NATIVE_ENGINE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import pv_native_engine

    yield pv_native_engine
    sys.modules.pop("pv_native_engine", None)


def test_native_stderr_and_tracebacks_of_the_child_go_to_the_log_file(native_engine, capfd, tmp_path):
    child = ChildProcess.start(None, native_engine.NativeNoiseEngine)
    try:
        assert isinstance(_receive(child, (Ready, Fatal), 60), Ready)
        child.conn.send(Predict("img-1", str(tmp_path / "missing.dcm")))
        failed = _receive(child, (Failed, Result), 60)
    finally:
        child.shutdown()
    # the reader still learns what went wrong, as one line through the protocol
    assert isinstance(failed, Failed) and failed.image_id == "img-1" and "missing.dcm" in failed.message
    terminal = capfd.readouterr().err
    assert not TF_LINE.search(terminal), terminal
    assert "Traceback" not in terminal
    assert child.log_file == log_path()
    text = child.log_file.read_text(encoding="utf-8")
    assert "failed call to cuInit: test noise" in text  # written to fd 2 by "C++", landed in the file
    assert "ai-child[" in text and "model ready on CPU" in text  # the child's own log lines, marked
    assert "could not predict one image" in text and "Traceback" in text  # the traceback the GUI does not show


@pytest.mark.slow
def test_tensorflow_in_the_child_prints_nothing_in_the_terminal(rule_bundle, phantom_dataset_readonly, capfd):
    image_id = phantom_dataset_readonly.image_ids[0]
    child = ChildProcess.start(str(rule_bundle))
    try:
        ready = _receive(child, (Ready, Fatal), 300)
        assert isinstance(ready, Ready), ready
        child.conn.send(Predict(image_id, str(phantom_dataset_readonly.paths[image_id])))
        result = _receive(child, (Result, Failed), 120)
    finally:
        child.shutdown()
    assert isinstance(result, Result) and result.prediction.image_id == image_id
    terminal = capfd.readouterr().err
    assert not TF_LINE.search(terminal), terminal
    text = child.log_file.read_text(encoding="utf-8")
    assert f"model ready on {ready.device}" in text


def test_a_ready_child_quits_cleanly_and_a_loading_one_is_not_waited_for(native_engine):
    ready = ChildProcess.start(None, native_engine.NativeNoiseEngine)
    loading = ChildProcess.start(None, native_engine.EndlessLoadEngine)
    try:
        assert isinstance(_receive(ready, (Ready, Fatal), 60), Ready)
        _receive(loading, (ModelLoading,), 60)
    finally:
        ready.shutdown(grace_s=60)
        t0 = time.monotonic()
        loading.shutdown(grace_s=60, loading=True)
        loading_s = time.monotonic() - t0
    assert ready.exitcode == 0  # it read Quit and exited by itself, within the grace period
    assert loading.exitcode is not None and loading.exitcode != 0  # terminated, not left running
    assert loading_s < 30  # not the 60 s grace: a loading child reads no Quit, so it is not waited for


def test_a_child_that_dies_is_reported_with_where_its_output_went(native_engine, capfd):
    import threading

    from pneumoviewer.inference.client import InferenceClient

    events: list[object] = []
    fatal = threading.Event()

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, Fatal):
            fatal.set()

    client = InferenceClient(on_event, None, "process", native_engine.CrashingEngine)
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    assert fatal.wait(60)
    client.request_stop()
    thread.join(30)
    message = next(e for e in events if isinstance(e, Fatal)).message
    assert "ended unexpectedly (exit code 3" in message and str(log_path()) in message
    assert "native abort" not in capfd.readouterr().err
    assert "F0000 native abort of the test engine" in log_path().read_text(encoding="utf-8")


@pytest.mark.slow
def test_tensorflow_loaded_in_a_terminal_process_keeps_its_start_up_lines_in_the_log(tmp_path):
    """The CLI commands and ``--inference thread`` load TensorFlow in the reader's terminal: its C++ start-up lines
    (absl, the CUDA stub, cuInit on a CPU machine) go to the log file; a bare import, the control, prints them."""
    import os
    import subprocess

    env = {**os.environ, "PNEUMOVIEWER_DATA": str(tmp_path / "data"), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    probe = ("import sys; from pneumoviewer.inference.backend import tensorflow; tf = tensorflow(); "
             "print('after', file=sys.stderr, flush=True); tf.constant(1.0) + 1.0")
    ours = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert ours.returncode == 0, ours.stderr
    assert not TF_LINE.search(ours.stderr), ours.stderr
    assert "after" in ours.stderr  # the terminal got fd 2 back once TensorFlow was up
    bare = subprocess.run([sys.executable, "-c", "import tensorflow as tf; tf.config.list_physical_devices('GPU')"],
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True, timeout=300)
    control = TF_LINE.findall(bare.stderr)
    log = tmp_path / "data" / "logs" / "pneumoviewer.log"
    if control:  # this machine's TensorFlow prints start-up lines: ours were kept, in the log
        assert log.is_file() and TF_LINE.search(log.read_text(encoding="utf-8")), bare.stderr
