"""The inference child process: loads the model bundle and predicts images it is sent, by path.

Runs in its own interpreter, so TensorFlow's import (seconds, and dlopen of large libraries under the GIL) and the
first call's graph tracing (~0.2 s holding the GIL) cannot stall the GUI thread. No Qt here. It is started with
`subprocess` (posix_spawn/vfork: the GUI thread is not blocked while a large process forks, as it is with
multiprocessing's spawn and its resource tracker) and talks over two pipes with `multiprocessing.connection`
framing; the messages are the dataclasses of `inference.protocol` (app → child: Init first, then Predict / Cancel /
Quit; child → app: ModelLoading, Ready, Fatal, Result, Failed, Dropped).

The child's stderr (fd 2, so C++ output too: TensorFlow's ``E0000 … failed call to cuInit`` on a CPU machine) is
the app's log file (`core.logs.open_child_stderr`), never the reader's terminal; what the reader must know still
arrives through the protocol (Fatal, Failed carry one line each) and the traceback is in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pneumoviewer.core.logs import configure_child_logging, current_log_file, open_child_stderr
from pneumoviewer.inference.protocol import (
    Cancel,
    Dropped,
    Failed,
    Fatal,
    Init,
    ModelLoading,
    Predict,
    Quit,
    Ready,
    Result,
    describe_error,
)

log = logging.getLogger("pneumoviewer.inference.child")  # not __name__: run with -m, that is "__main__"

NICENESS = 10  # scheduling priority of the inference process (POSIX nice): below the GUI's


class Duplex:
    """One object with send/recv/poll/close over a read pipe and a write pipe."""

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self._r, self._w = reader, writer

    def send(self, obj: Any) -> None:
        self._w.send(obj)

    def recv(self) -> Any:
        return self._r.recv()

    def poll(self, timeout: float | None = 0.0) -> bool:
        return self._r.poll(timeout)

    def close(self) -> None:
        for c in (self._r, self._w):
            with contextlib.suppress(OSError):
                c.close()


class ChildProcess:
    """The running child (GUI side): `conn`, `is_alive()`, `exitcode`, `kill()`, `shutdown()`; `log_file`: where its
    stderr goes (None: it shares this process's stderr, the log folder being unwritable)."""

    def __init__(self, popen: subprocess.Popen[bytes], conn: Duplex, log_file: Path | None = None) -> None:
        self.popen = popen
        self.conn = conn
        self.log_file = log_file

    @classmethod
    def start(cls, bundle_dir: str | None, engine_factory: Any = None) -> ChildProcess:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        # the child sees the modules this process sees (a factory defined outside the package, e.g. in tests)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's own errors still reach the log; its INFO chatter does not
        stderr = open_child_stderr()
        log_file = current_log_file() if stderr is not None else None
        try:
            cmd = [sys.executable, "-m", "pneumoviewer.inference.child", str(to_child_r), str(from_child_w),
                   "log" if stderr is not None else "inherit"]
            nice = shutil.which("nice") if os.name == "posix" else None
            if nice:  # low priority from the first instruction: the reader's window keeps the CPU during start-up
                cmd = [nice, "-n", str(NICENESS), *cmd]
            popen = subprocess.Popen(
                cmd,
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,  # dup2'd onto the child's fd 2 before it runs a line of Python
                env=env,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
            if stderr is not None:
                stderr.close()  # the child holds its own copy
        conn = Duplex(Connection(from_child_r, writable=False), Connection(to_child_w, readable=False))
        conn.send(Init(bundle_dir, engine_factory))
        return cls(popen, conn, log_file)

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.popen.kill()

    def shutdown(self, grace_s: float = 2.0, loading: bool = False) -> None:
        """Ask it to quit; terminate, then kill, if it does not; always reaps it and closes the pipes.

        `loading`: the model is not ready yet. Such a child reads no message until TensorFlow has loaded (seconds),
        and holds nothing worth finishing, so it is terminated at once: closing the window right after opening it
        does not wait out the grace period."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(Quit())
        if loading:
            with contextlib.suppress(OSError):
                self.popen.terminate()
        for step in (self.popen.terminate, self.popen.kill, None):
            try:
                self.popen.wait(grace_s)
                break
            except subprocess.TimeoutExpired:
                if step is None:
                    break
                with contextlib.suppress(OSError):
                    step()
        self.conn.close()


def child_main(conn: Duplex, bundle_dir: str | None, engine_factory: Any = None) -> None:
    """The child's loop: load the engine (reporting progress), then predict requests in order until told to quit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if hasattr(os, "nice") and os.nice(0) < NICENESS:
        with contextlib.suppress(OSError):
            os.nice(NICENESS - os.nice(0))  # the reader's window wins the CPU; the AI takes what is left
    try:
        from pneumoviewer.io.dicom import load_image

        if engine_factory is None:
            from pneumoviewer.inference.engine import InferenceEngine

            engine = InferenceEngine(bundle_dir)
        else:
            engine = engine_factory(bundle_dir)
        conn.send(ModelLoading(engine.model_info))
        log.info("loading the model (TensorFlow's own lines follow here, not in the terminal)")
        engine.load()  # imports TensorFlow, loads the models, warms up (traces) before the first real image
        log.info("model ready on %s", engine.device)
        conn.send(Ready(str(engine.device)))
    except Exception as exc:  # no model: the app stays usable and says why
        log.warning("the model could not be loaded", exc_info=True)
        conn.send(Fatal(describe_error(exc)))
        return

    pending: deque[tuple[str, Future[Any]]] = deque()
    decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")  # decodes the next image ahead
    try:
        while True:
            # take every message waiting; block only when there is nothing to do
            while (pending and conn.poll(0)) or not pending:
                msg = conn.recv()
                if isinstance(msg, Quit):
                    return
                if isinstance(msg, Cancel):
                    while pending:
                        image_id, fut = pending.popleft()
                        fut.cancel()
                        conn.send(Dropped(image_id))
                elif isinstance(msg, Predict):
                    pending.append((msg.image_id, decoder.submit(load_image, msg.path)))
            image_id, fut = pending.popleft()
            try:
                image = fut.result()
                prediction = engine.predict(image)
            except Exception as exc:  # one bad image must not stop the folder; the traceback goes to the log
                log.warning("could not predict one image", exc_info=True)
                conn.send(Failed(image_id, describe_error(exc)))
                continue
            prediction.mask_probability = None  # not shown: 4 MB per 1024² image the pipe need not carry
            conn.send(Result(prediction))
    except (BrokenPipeError, EOFError, OSError):
        return  # the GUI went away
    finally:
        decoder.shutdown(wait=False, cancel_futures=True)


def _main(argv: list[str]) -> int:
    # argv: read fd, write fd, and "log" when stderr is the app's log file (then INFO lines are wanted there)
    configure_child_logging("ai-child", logging.INFO if argv[2:3] == ["log"] else logging.WARNING)
    reader = Connection(int(argv[0]), writable=False)
    writer = Connection(int(argv[1]), readable=False)
    conn = Duplex(reader, writer)
    try:
        init = conn.recv()
        if not isinstance(init, Init):
            return 2
        child_main(conn, init.bundle_dir, init.engine_factory)
    except (EOFError, OSError):
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    code = _main(sys.argv[1:])
    logging.shutdown()
    sys.stderr.flush()
    # no interpreter teardown: TensorFlow's exit handlers and thread joins take ~1.3 s, and the child has nothing
    # left to flush (results sent, pipes closed, log flushed); the window's close does not wait for them
    os._exit(code)
