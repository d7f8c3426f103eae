"""Crash safety for real: a child process edits and saves, is SIGKILLed mid-work, and nothing it reported is lost."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.review import ReviewStore

CHILD = Path(__file__).with_name("kill_child.py")
_spec = importlib.util.spec_from_file_location("pv_kill_child", CHILD)
kill_child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kill_child)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
@pytest.mark.parametrize("kill_after", [7, 23])
def test_sigkill_loses_no_committed_stroke(tmp_path, kill_after):
    seed = 11
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    last = 0
    deadline = time.monotonic() + 120
    try:
        while last < kill_after and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("committed "):
                last = int(line.split()[1])
        assert last >= kill_after, f"child stopped early: {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)  # mid-way: the child is busy with the next stroke
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # the child may have committed one or two more strokes after its last line was read
    expected = kill_child.replay(seed, last + 3)
    with ReviewStore.open(tmp_path) as store:
        stored = {iid: store.final_mask(iid) for iid in kill_child.IMAGES}
        for iid in kill_child.IMAGES:
            assert stored[iid] is not None
        matches = [
            k + 1
            for k, masks in enumerate(expected)
            if all(np.array_equal(stored[iid], masks[iid]) for iid in kill_child.IMAGES)
        ]
        assert matches, "stored masks match no stroke prefix"
        assert max(matches) >= last, f"stroke {last} was reported committed but the store holds only {max(matches)}"
        assert any(m > 0 for m in (stored[i].sum() for i in kill_child.IMAGES))
        # statuses survive too: the flag written after stroke 5 (image index 0)
        assert store.status(kill_child.IMAGES[0]) is ReviewStatus.FLAGGED
        assert store.position() in kill_child.IMAGES
        assert not store.path.with_name(store.path.name + "-journal").exists()
