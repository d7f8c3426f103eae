"""GUI-thread stalls while the AI worker runs: a QTimer heartbeat in the real window (JSON on stdout).

For each worker mode (child process = default; QThread = the alternative) a fresh interpreter opens a folder of
1024² phantoms in `MainWindow` with the model bundle, and a 5 ms QTimer records every tick on the GUI thread from
the moment the folder opens until every image has its AI result. Gaps between ticks are GUI stalls. They are
reported per phase: `load` (worker start → model ready: TensorFlow import, model load, warm-up / first-call
tracing), `first_call` (model ready → first result) and `steady` (the rest of the folder), plus overall. Mode
`none` runs the same window without AI for as long: on a shared 2-core machine the OS alone causes some gaps,
and this baseline shows how many.

    .venv/bin/python benchmarks/gui_inference_stall.py [--model DIR] [--images 16] [--modes process thread]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import isolated_env, load_avg, machine

CHILD = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pneumoviewer.app import build_window
from pneumoviewer.gui.theme import apply_dark_theme

folder, model, mode = sys.argv[1], sys.argv[2], sys.argv[3]
app = QApplication([])
apply_dark_theme(app)
w = build_window(bundle_dir=model, inference_mode="process" if mode == "none" else mode, run_ai=mode != "none")
w.resize(1600, 1000)
w.show()
ticks = []
marks = {}
hb = QTimer()
hb.setInterval(5)
hb.timeout.connect(lambda: ticks.append(time.perf_counter()))
def mark(name):
    marks.setdefault(name, time.perf_counter())
w.parts.nav.imagePainted.connect(lambda i: mark("painted"))
if mode == "none":  # baseline: the same window with no AI, idle for as long as a typical run
    w.parts.nav.imagePainted.connect(lambda i: QTimer.singleShot(int(float(sys.argv[4]) * 1000), idle))
w.parts.ai.modelReady.connect(lambda d: (mark("ready"), marks.setdefault("device", d)))
w.parts.ai.modelFailed.connect(lambda m: (marks.setdefault("failed", m), app.quit()))
w.parts.ai.predictionArrived.connect(lambda i, p: mark("first_result"))
errors = []
w.parts.ai.predictionFailed.connect(lambda i, m: (mark("first_result"), errors.append(m)))
def idle():
    mark("idle")
    QTimer.singleShot(100, app.quit)
w.parts.ai.inferenceIdle.connect(idle)
def start():
    mark("open")
    hb.start()
    w.parts.folders.open_folder(folder)
QTimer.singleShot(0, start)
QTimer.singleShot(600000, app.quit)
app.exec()
hb.stop()
n_pred = len(w.parts.session.predictions())
w.close()
print("RESULT" + json.dumps({"ticks": ticks, "marks": marks, "n_predictions": n_pred, "errors": errors[:3],
                             "n_errors": len(errors),
                             "tensorflow_in_gui_process": "tensorflow" in sys.modules}))
"""


def _gaps(ticks: list[float], t0: float, t1: float) -> dict[str, float] | None:
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(ticks) if a >= t0 and b <= t1]
    if not gaps:
        return None
    gaps.sort()
    p95 = gaps[min(len(gaps) - 1, round(0.95 * (len(gaps) - 1)))]
    return {
        "n": len(gaps),
        "max_ms": round(gaps[-1], 1),
        "p95_ms": round(p95, 1),
        "p50_ms": round(gaps[len(gaps) // 2], 1),
        "over_50ms": sum(g > 50 for g in gaps),
    }


def run_mode(folder: Path, model: Path, mode: str, env: dict[str, str], idle_s: float = 12.0) -> dict[str, object]:
    cmd = [sys.executable, "-c", CHILD, str(folder), str(model), mode, str(idle_s)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"{mode}: no result\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    r = json.loads(line[6:])
    ticks, m = r["ticks"], r["marks"]
    if "failed" in m:
        return {"mode": mode, "error": m["failed"]}
    end = m.get("idle", ticks[-1])
    during = [(b - a, a) for a, b in itertools.pairwise(ticks) if m["painted"] <= a and b <= end]
    worst = sorted(during, reverse=True)[:3]
    out: dict[str, object] = {
        "mode": mode,
        "worst_gaps_after_first_paint": [{"ms": round(g * 1000, 1), "at_s": round(a - m["open"], 3)} for g, a in worst],
    }
    if mode == "none":
        out["gui_gaps"] = {"all_after_first_paint": _gaps(ticks, m["painted"], end)}
        return out
    out.update(
        {
            "device": m.get("device"),
            "n_predictions": r["n_predictions"],
            "n_errors": r["n_errors"],
            "first_errors": r["errors"],
            "tensorflow_in_gui_process": r["tensorflow_in_gui_process"],
            "seconds": {
                "open_to_first_paint": round(m["painted"] - m["open"], 3),
                "open_to_model_ready": round(m["ready"] - m["open"], 3),
                "ready_to_first_result": round(m["first_result"] - m["ready"], 3),
                "open_to_all_done": round(end - m["open"], 3),
            },
            "gui_gaps": {
                "load": _gaps(ticks, m["painted"], m["ready"]),
                "first_call": _gaps(ticks, m["ready"], m["first_result"] + 0.05),
                "steady": _gaps(ticks, m["first_result"], end),
                "all_after_first_paint": _gaps(ticks, m["painted"], end),
            },
        }
    )
    return out


def main() -> int:
    from pneumoviewer.core.paths import default_model_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["none", "process", "thread"],
        choices=["none", "process", "thread"],
        help="none = the same window without AI: the machine's own scheduling noise, for comparison",
    )
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-stall-"))
    try:
        folder = args.folder
        if folder is None:
            from pneumoviewer.phantom import generate_dataset

            folder = generate_dataset(tmp / "phantoms", args.images, seed=2, size=1024).root
        env = {**isolated_env(tmp), "TF_CPP_MIN_LOG_LEVEL": "2"}
        results = [run_mode(folder, args.model, mode, env) for mode in args.modes]
        print(
            json.dumps(
                {
                    "machine": machine(load0),
                    "benchmark": "gui_inference_stall",
                    "what": "GUI heartbeat (5 ms QTimer) gaps while the AI worker loads the model, predicts a folder",
                    "model": str(args.model),
                    "images": args.images,
                    "target_max_gap_ms": 50,
                    "results": results,
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
