"""Cold start of the review app: process start → first image painted (JSON on stdout).

Each run is a fresh interpreter (`python -c …` through `pneumoviewer.app.create_app`, as `pneumoviewer FOLDER` does),
timed from just before the process is spawned until the window's `imagePainted` signal. Runs on a folder of
SIIM-like 1024² JPEG Baseline phantoms: the first run indexes the folder (no scan cache), later runs reuse the cache.
The window must not import TensorFlow: the JSON says whether it did.

    .venv/bin/python benchmarks/gui_startup.py [--folder DIR] [--runs 5] [--images 24]
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
import json, resource, sys, time
from PySide6.QtCore import QTimer
from pneumoviewer.app import create_app
t_import = time.time()
app, w = create_app(sys.argv[1:])
out = {"t_imports_done": t_import}
def painted(image_id):
    out["t_painted"] = time.time()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = ru.ru_utime + ru.ru_stime  # all threads of the app process: independent of other load
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    out["n_images"] = w.parts.worklist_model.image_count()
    app.quit()
w.parts.nav.imagePainted.connect(painted)
QTimer.singleShot(60000, app.quit)
app.exec()
w.close()
print("RESULT" + json.dumps(out))
"""


def one_run(folder: Path, env: dict[str, str], extra: list[str]) -> dict[str, float]:
    t0 = time.time()
    cmd = [sys.executable, "-c", CHILD, str(folder), *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"no result from the app process:\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(line[6:])
    return {
        "first_image_painted_s": r["t_painted"] - t0,
        "python_and_imports_s": r["t_imports_done"] - t0,
        "cpu_s": r["cpu_s"],
        "tensorflow_imported": r["tensorflow_imported"],
        "n_images": r["n_images"],
    }


def series(folder: Path, env: dict[str, str], extra: list[str], runs: int) -> dict[str, object]:
    cold = one_run(folder, env, extra)  # scan cache empty
    warm = [one_run(folder, env, extra) for _ in range(max(1, runs))]
    times = [r["first_image_painted_s"] for r in warm]
    return {
        "first_run_no_scan_cache_s": round(cold["first_image_painted_s"], 3),
        "warm_runs_s": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "python_and_imports_median_s": round(statistics.median(r["python_and_imports_s"] for r in warm), 3),
        "cpu_time_to_first_paint_median_s": round(statistics.median(r["cpu_s"] for r in warm), 3),
        "tensorflow_imported_in_gui_process": any(r["tensorflow_imported"] for r in [cold, *warm]),
        "n_images": cold["n_images"],
    }


def main() -> int:
    from pneumoviewer.core.paths import default_model_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, help="folder of DICOMs (default: generated phantoms)")
    ap.add_argument("--model", type=Path, default=default_model_dir(), help="bundle for the with-AI series")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", type=int, default=24)
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-startup-"))
    try:
        folder = args.folder
        if folder is None:
            from pneumoviewer.phantom import generate_dataset

            folder = generate_dataset(tmp / "phantoms", args.images, seed=0, size=1024).root
        env = isolated_env(tmp, cache="cache-no-ai")
        out: dict[str, object] = {}
        out["no_ai"] = series(folder, env, ["--no-ai"], args.runs)
        if (args.model / "manifest.json").is_file():
            env["PNEUMOVIEWER_CACHE"] = str(tmp / "cache-ai")  # the AI process starts with the scan (low priority)
            out["with_ai"] = series(folder, env, ["--model", str(args.model)], args.runs)
        result = {
            "machine": machine(load0),
            "benchmark": "gui_startup",
            "what": "process start -> first image painted (offscreen Qt), 1024² JPEG Baseline phantoms",
            "model": str(args.model) if "with_ai" in out else None,
            **out,
            "target_s": 2.0,
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
