"""Distributed training for real: two MultiWorkerMirroredStrategy workers on localhost (the README's commands), and
MirroredStrategy over two logical CPU devices — both through the one train step of ``training/loop.py``."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

ROOT = Path(__file__).resolve().parents[2]
# tiny and fast: 32² inputs, a 2-level U-Net of width 4, two steps; val 5 images with a global batch of 4, so the
# last validation batch has one image for two replicas (the case that crashed batch norm before padding)
TINY = ["--size", "32", "--batch", "2", "--steps-per-epoch", "2", "--width", "4", "--depth", "2", "--seed", "1",
        "--val-fraction", "0.3", "-q"]
RUN_TIMEOUT = 150  # seconds per two-worker run; a hang (collectives waiting on a dead peer) fails, never blocks CI

# records every write a process makes under $PV_FORBID_WRITES (an audit hook, loaded as sitecustomize)
AUDIT_HOOK = textwrap.dedent('''
    import os, sys
    _root = os.path.realpath(os.environ["PV_FORBID_WRITES"])
    _log = os.environ["PV_WRITE_LOG"]
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def _hook(event, args):
        path = None
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1] or "", args[2] or 0
            if any(c in str(mode) for c in "wax+") or flags & _WRITE:
                path = args[0]
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.chmod"):
            path = args[0]
        elif event in ("os.rename", "os.replace", "os.link", "os.symlink"):
            path = args[1]
        if path is None or isinstance(path, int):
            return
        full = os.path.realpath(os.fsdecode(path))
        if full == _root or full.startswith(_root + os.sep):
            with open(_log, "a") as fh:
                fh.write(event + " " + full + "\\n")

    sys.addaudithook(_hook)
''')


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def readme_node_commands() -> list[str]:
    """The two shell commands of README.md's multi-node block, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- multi-node-commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for part in re.split(r"^# node .*$", block, flags=re.M)[1:]:
        commands.append(" ".join(line.strip().rstrip("\\").strip() for line in part.strip().splitlines()))
    return commands


def _worker_env(tmp: Path, forbid: Path | None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "OMP_NUM_THREADS": "1"}
    env.pop("TF_CONFIG", None)
    if forbid is not None:
        hook_dir = tmp / "audit"
        hook_dir.mkdir(exist_ok=True)
        (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
        env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(hook_dir), env.get("PYTHONPATH")])),
                   PV_FORBID_WRITES=str(forbid), PV_WRITE_LOG=str(tmp / "non-chief-writes.log"))
    return env


def _run_readme_workers(ds, shared: Path, tmp: Path, extra: list[str]) -> list[subprocess.CompletedProcess]:
    """Start node A and node B of the README on localhost (free ports) and wait for both, bounded."""
    ports = _free_ports(2)
    procs = []
    for i, command in enumerate(readme_node_commands()):
        command = (command.replace("nodeA:12345", f"127.0.0.1:{ports[0]}")
                   .replace("nodeB:12345", f"127.0.0.1:{ports[1]}")
                   .replace("/data/siim/train-rle.csv", shlex.quote(str(ds.csv_path)))
                   .replace("/data/siim", shlex.quote(str(ds.root)))
                   .replace("/shared/models/mine", shlex.quote(str(shared))))
        command += " " + " ".join(shlex.quote(a) for a in [*TINY, *extra])
        env = _worker_env(tmp, forbid=shared if i > 0 else None)  # every worker but the chief: no writes
        procs.append(subprocess.Popen(["bash", "-c", command], env=env, cwd=tmp, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=RUN_TIMEOUT)
            results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def _fingerprint(stderr: str) -> str:
    found = re.findall(r"weights fingerprint ([0-9a-f]{16})", stderr)
    assert len(found) == 1, stderr[-3000:]
    return found[0]


def test_readme_commands_run_on_two_local_workers_and_resume(phantom_dataset_readonly, tmp_path):
    import keras

    from pneumoviewer.inference.bundle import load_bundle, read_manifest, verify_files
    from pneumoviewer.training.loop import weights_fingerprint

    ds = phantom_dataset_readonly
    shared = tmp_path / "shared" / "mine"
    chief, other = _run_readme_workers(ds, shared, tmp_path, ["--epochs", "1"])
    assert chief.returncode == 0 and other.returncode == 0, (chief.stderr[-3000:], other.stderr[-3000:])
    assert "2 replicas on 2 workers" in chief.stderr and "the chief" in chief.stderr
    assert "the chief wrote the bundle" in other.stderr
    fp = _fingerprint(chief.stderr)
    assert _fingerprint(other.stderr) == fp  # identical weights on both workers after training
    assert not (tmp_path / "non-chief-writes.log").exists()  # only the chief wrote into --out

    m = read_manifest(shared)
    verify_files(m)
    entry = m.models["segmenter"]
    assert entry.training["batch"] == 4 and entry.training["images_val"] == 5  # global batch = 2 per replica × 2
    assert "MultiWorkerMirroredStrategy" in entry.training["device"]
    seg = load_bundle(shared).models["segmenter"]
    out = np.asarray(seg(np.zeros((2, 32, 32, 1), np.float32), training=False))
    assert out.shape == (2, 32, 32, 1) and np.isfinite(out).all()
    last = keras.models.load_model(shared / ".train-segmenter" / "last.keras", compile=False, safe_mode=True)
    assert weights_fingerprint(last) == fp  # the chief saved what both workers hold

    # resume with the shared --out: both workers start from the chief's checkpoint and continue the run
    chief, other = _run_readme_workers(ds, shared, tmp_path, ["--epochs", "2", "--resume"])
    assert chief.returncode == 0 and other.returncode == 0, (chief.stderr[-3000:], other.stderr[-3000:])
    assert "after epoch 1" in chief.stderr and "after epoch 1" in other.stderr
    fp2 = _fingerprint(chief.stderr)
    assert _fingerprint(other.stderr) == fp2 != fp
    assert not (tmp_path / "non-chief-writes.log").exists()
    state = json.loads((shared / ".train-segmenter" / "state.json").read_text())
    assert state["epochs_done"] == 2 and [r["epoch"] for r in state["history"]] == [1, 2]
    assert read_manifest(shared).models["segmenter"].training["epochs_run"] == 2


MIRRORED = textwrap.dedent('''
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pneumoviewer.cli import main
    sys.exit(main(sys.argv[1:]))
''')


@pytest.mark.parametrize("empty_weight", [0.0, 0.3])
def test_mirrored_over_two_logical_devices_pads_validation(phantom_dataset_readonly, tmp_path, empty_weight):
    """Two replicas in one process, same code path; the validation figures count every image once, blanks never
    (with the empty-mask branch too: its loss term and AUC)."""
    import keras

    from pneumoviewer.training import data, loop, losses
    from pneumoviewer.training.split import patient_split

    ds = phantom_dataset_readonly
    out = tmp_path / "bundle"
    args = ["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out), *TINY,
            "--epochs", "1", "--no-augment", "--empty-weight", str(empty_weight)]
    proc = subprocess.run([sys.executable, "-c", MIRRORED, *args], env=_worker_env(tmp_path, None), cwd=tmp_path,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MirroredStrategy over 2 CPU devices" in proc.stderr
    row = json.loads((out / ".train-segmenter" / "state.json").read_text())["history"][-1]

    # the logged validation loss and Dice, recomputed here on the 5 validation images alone (no padding)
    labelled = data.collect_examples(ds.root, ds.csv_path)
    ex = {e.image_id: e for e in labelled.examples}
    split = patient_split(list(ex), {i: e.patient_key for i, e in ex.items()},
                          {i: e.positive for i, e in ex.items()}, 0.3, 1)
    val = [ex[i] for i in split.val]
    assert len(val) == 5
    model = keras.models.load_model(out / ".train-segmenter" / "last.keras", compile=False, safe_mode=True)
    cfg = loop.TrainConfig(task="segmenter", size=32, empty_weight=empty_weight)
    xs, ys = zip(*(data.load_example(e, labelled.table, 32, True) for e in val))
    pred = model(np.stack(xs), training=False)
    per = np.asarray(loop.per_sample_loss(cfg)(np.stack(ys), pred))
    assert row["val_loss"] == pytest.approx(float(per.mean()), abs=1e-4)
    dice = losses.DiceCoefficient()
    dice.update_state(np.stack(ys), pred[0] if empty_weight else pred)
    assert row["val_dice"] == pytest.approx(float(dice.result()), abs=1e-4)
    if empty_weight:
        auc = keras.metrics.AUC()
        auc.update_state(losses.mask_present(np.stack(ys)), pred[1])
        assert row["val_empty_auc"] == pytest.approx(float(auc.result()), abs=1e-4)
    else:
        assert "val_empty_auc" not in row
