"""Close and reopen the review app on the demo studies whose AI results are stored: time to the first image painted,
and whether the AI runs again (it must not: the stored results came from the same bundle, by sha256). JSON on stdout.

The first run is a fresh user: the app generates the demo studies (24 phantoms, 1024²), opens them and the demo
model predicts every image; the run ends when the AI is idle and the window closes (results in the review store).
Each reopen is a fresh interpreter through `pneumoviewer.app.create_app` (as `pneumoviewer` with no folder does),
timed from just before the process is spawned until the window's `imagePainted`; after the app's own decision of
what the AI still has to do (queued after the first paint), it reports how many images were queued and how many
predictions arrived. Each reopen is followed by one with `--no-ai`: the same reopen without the AI process, under the
same machine load, for comparison.

    .venv/bin/python benchmarks/reopen.py [--runs 5] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import isolated_env, load_avg, machine

CHILD = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from pneumoviewer.app import create_app
mode = sys.argv[1]
app, w = create_app(sys.argv[2:])
ai = w.parts.ai
out = {"queued": 0, "predictions": 0, "errors": 0}

def finish():
    out.setdefault("t_quit", time.time())
    app.quit()  # aboutToQuit: the window's shutdown joins the workers and flushes the review store

ai.queued.connect(lambda done, total: out.__setitem__("queued", out["queued"] + total - done))
ai.predictionArrived.connect(lambda *_: out.__setitem__("predictions", out["predictions"] + 1))
ai.predictionFailed.connect(lambda *_: out.__setitem__("errors", out["errors"] + 1))
ai.modelFailed.connect(lambda msg: (out.__setitem__("model_error", msg), finish()))

def decided():
    # runs after the app's own start of the AI (queued behind it on the first paint)
    out["pending_after_start"] = ai.worker.pending() if ai.worker is not None else 0
    out["ai_worker_started"] = ai.worker is not None  # the child process (TensorFlow import) runs even so
    out["n_images"] = w.parts.worklist_model.image_count()
    out["results_in_session"] = len(w.parts.session.predictions())
    if mode == "reopen":
        finish()

def painted(image_id):
    if "t_painted" not in out:
        out["t_painted"] = time.time()
        QTimer.singleShot(0, decided)

w.parts.nav.imagePainted.connect(painted)
if mode == "first":
    ai.inferenceIdle.connect(finish)
QTimer.singleShot(900000 if mode == "first" else 120000, finish)
app.exec()
w.close()
out["t_closed"] = time.time()
out["results_in_session_at_close"] = len(w.parts.session.predictions())
print("RESULT" + json.dumps(out))
"""


def one_run(mode: str, env: dict[str, str], extra: list[str]) -> dict[str, object]:
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, *extra], env=env, capture_output=True, text=True,
                          timeout=1200)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"no result from the app process:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    r = json.loads(line[6:])
    if "model_error" in r:
        raise RuntimeError(f"the model did not load: {r['model_error']}")
    if "t_painted" not in r:
        raise RuntimeError(f"no image was painted:\n{proc.stderr[-3000:]}")
    return {
        "first_image_painted_s": round(r["t_painted"] - t0, 3),
        "quit_to_closed_s": round(r["t_closed"] - r["t_quit"], 3),
        "queued_inferences": r["queued"],
        "pending_after_start": r["pending_after_start"],
        "ai_worker_started": r["ai_worker_started"],
        "predictions_arrived": r["predictions"],
        "ai_errors": r["errors"],
        "results_in_session": r["results_in_session"],
        "n_images": r["n_images"],
        "wall_s": round(time.time() - t0, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="reopens after the first run")
    ap.add_argument("--model", type=Path, help="bundle (default: the app's demo choice, the shipped demo model)")
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-reopen-"))
    try:
        env = isolated_env(tmp)
        extra = ["--model", str(args.model)] if args.model else []
        first = one_run("first", env, extra)
        if first["results_in_session"] + first["predictions_arrived"] == 0:
            raise RuntimeError("the first run stored no AI result: nothing to reopen with (is a model bundle there?)")
        reopens, baseline = [], []
        for _ in range(max(1, args.runs)):  # interleaved, so both series meet the same machine load
            reopens.append(one_run("reopen", env, extra))
            baseline.append(one_run("reopen", env, [*extra, "--no-ai"]))
        painted = [float(r["first_image_painted_s"]) for r in reopens]
        painted_no_ai = [float(r["first_image_painted_s"]) for r in baseline]
        result = {
            "machine": machine(load0),
            "benchmark": "reopen",
            "what": "close + reopen on the demo studies with stored AI results: process start -> first image painted"
                    " (offscreen Qt), and how many images the AI queued again",
            "first_run": first,
            "reopens": reopens,
            "reopens_no_ai": baseline,
            "reopen_first_image_painted_median_s": round(statistics.median(painted), 3),
            "reopen_first_image_painted_max_s": round(max(painted), 3),
            "reopen_no_ai_first_image_painted_median_s": round(statistics.median(painted_no_ai), 3),
            "reopen_ai_worker_started": [bool(r["ai_worker_started"]) for r in reopens],
            "reopen_queued_inferences_total": sum(int(r["queued_inferences"]) for r in reopens),
            "reopen_predictions_arrived_total": sum(int(r["predictions_arrived"]) for r in reopens),
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
