"""The whole folder in one window (issue 13): every GUI figure at 1k / 12k images in one process (JSON on stdout).

Generates (or reuses, under --folder) N phantoms and opens them in the real window (`app.build_window`, the AI
worker in thread mode with an engine that is never asked to predict). With a 5 ms QTimer heartbeat on the GUI
thread (the longest gap per step is the stall a user feels) it runs, one after the other:

* **cold open** (empty index cache; the page cache is whatever the machine has): open → first rows, first image
  painted, scan finished; the longest gap while the rows stream in, and around the scan's end (±300 ms of
  `scanFinished`: completing the index, listing failures, restoring the start position);
* a **burst of AI results** for every image, unsorted and later while sorted by AI probability: a plain thread
  relays `Result` events into the inference worker as fast as it can (as the AI's thread does, only faster than
  any model), so the results go the real way (worker → `Batches` → `AiController` → session, store writer,
  worklist); from the first result to the last one applied;
* a comment on every tenth image, one row's tooltip (its review record, read from the store), sort by each
  column, filter by status and back, search keystrokes and clearing, a comment search, Run AI's queueing;
* once the store writer has caught up (`session.flush()`), a **warm reopen** of the same folder (index cache warm,
  the store holding a result per image, still sorted by AI probability: the rows stream in sorted): open → first
  paint, scan finished, longest gap;
* the window's RSS with a result for every image (`--trace-memory`: the largest Python allocations too; slow);
* baselines in the same process: a plain `QSortFilterProxyModel` sort of the same rows, and a bare PySide6 +
  pydicom window that lists the folder (`dcmread(stop_before_pixels=True)` per file, as a plain viewer does) and
  then paints the first image (the issue's "bare window" start → first image).

    .venv/bin/python benchmarks/gui_scale.py [--n 1000] [--size 256] [--folder DIR] [--trace-memory]
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _harness import isolated_env, load_avg, machine  # noqa: E402

SETTLE_MS = 150  # between steps: the heartbeat and painting catch up


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _IdleEngine:
    """The worker's engine: loads at once and is never asked to predict (the burst bypasses it)."""

    def __init__(self, _bundle_dir: str | None = None) -> None:
        from pneumoviewer.core.types import ModelInfo

        self.model_info = ModelInfo("scale-bench", "0", synthetic=True)
        self.device = "CPU"

    def load(self) -> None:
        pass

    def predict(self, image: Any) -> Any:
        raise RuntimeError("the benchmark engine does not predict")


def _bare_window_first_paint(folder: Path) -> float:
    """Seconds from start to the first image painted in a bare PySide6 + pydicom viewer that lists the folder
    first (headers of every file), then decodes and shows the first file."""
    import numpy as np
    import pydicom
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QListWidget, QWidget

    app = QApplication.instance()
    marks: dict[str, float] = {}

    class Label(QLabel):
        def paintEvent(self, event: Any) -> None:
            super().paintEvent(event)
            if self.pixmap() is not None and not self.pixmap().isNull() and "painted" not in marks:
                marks["painted"] = time.perf_counter()
                QTimer.singleShot(0, app.quit)

    win = QWidget()
    listing, label = QListWidget(), Label()
    layout = QHBoxLayout(win)
    layout.addWidget(listing)
    layout.addWidget(label, 1)
    win.resize(1200, 800)
    win.show()
    keep: list[Any] = []

    def run() -> None:
        marks["start"] = time.perf_counter()
        files = sorted(str(p) for p in folder.rglob("*.dcm"))
        listing.addItems([str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files])
        pixels = pydicom.dcmread(files[0]).pixel_array.astype(np.float32)
        lo, hi = float(pixels.min()), float(pixels.max())
        grey = np.ascontiguousarray(((pixels - lo) / max(hi - lo, 1.0) * 255).astype(np.uint8))
        image = QImage(grey.data, grey.shape[1], grey.shape[0], grey.strides[0], QImage.Format.Format_Grayscale8)
        keep.append(grey)
        label.setPixmap(QPixmap.fromImage(image))

    QTimer.singleShot(50, run)
    QTimer.singleShot(600_000, app.quit)
    app.exec()
    win.close()
    return marks.get("painted", float("nan")) - marks["start"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256, help="phantom size (the issue's figures use 1024)")
    ap.add_argument("--folder", type=Path, help="cache dir for the phantom folder (reused when it holds N images)")
    ap.add_argument("--trace-memory", action="store_true", help="also list the largest Python allocations (slow)")
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-scale-"))
    os.environ.update(isolated_env(tmp))
    if args.trace_memory:
        import tracemalloc

        tracemalloc.start(8)

    from pneumoviewer.phantom import generate_dataset

    base = args.folder or Path(tempfile.gettempdir()) / "pv-scale-cache"
    folder = base / f"phantoms-{args.n}-{args.size}"
    t_gen = time.perf_counter()
    if not (folder / ".complete").exists():
        generate_dataset(folder, args.n, seed=13, size=args.size)
        (folder / ".complete").write_text("ok", encoding="ascii")
    gen_s = time.perf_counter() - t_gen

    import numpy as np
    from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.app import build_window
    from pneumoviewer.core.types import ModelInfo, Prediction
    from pneumoviewer.gui.theme import apply_dark_theme
    from pneumoviewer.gui.worklist import COL_PROB, COLUMNS
    from pneumoviewer.inference.protocol import Result

    app = QApplication([])
    apply_dark_theme(app)
    w = build_window(run_ai=False, inference_mode="thread", engine_factory=_IdleEngine)
    w.resize(1600, 1000)
    w.show()
    parts = w.parts
    panel, session = parts.worklist, parts.session
    ticks: list[tuple[float, float]] = []  # (wall clock, GUI thread CPU time) per heartbeat
    hb = QTimer()
    hb.setTimerType(Qt.TimerType.PreciseTimer)
    hb.setInterval(5)
    hb.timeout.connect(lambda: ticks.append((time.perf_counter(), time.thread_time())))
    spans: dict[str, tuple[float, float]] = {}  # step -> (start, end of its work)
    marks: dict[str, float] = {}
    model = ModelInfo("scale-bench", "0", synthetic=True)
    arrived: list[str] = []
    parts.ai.predictionArrived.connect(lambda image_id, _p: arrived.append(image_id))

    def burst(seed: int) -> Callable[[], bool]:
        """Relay a result per image from a plain thread; done when the session holds all of them."""
        parts.ai.ensure_worker()
        worker = parts.ai.worker
        assert worker is not None
        ids = session.image_ids()
        metas = [session.meta(i) for i in ids]
        masks = {(m.rows, m.columns): np.zeros((m.rows, m.columns), bool) for m in metas if m is not None}
        rng = np.random.default_rng(seed)
        probs = rng.random(len(ids))
        arrived.clear()

        def feed() -> None:
            for i, m, p in zip(ids, metas, probs, strict=True):
                worker._relay(Result(Prediction(i, float(p), masks[(m.rows, m.columns)], model)))

        threading.Thread(target=feed, name="bench-burst", daemon=True).start()
        return lambda: len(arrived) >= len(ids)

    def reopen() -> Callable[[], bool]:
        marks.pop("painted_warm", None)
        marks.pop("scan_finished_warm", None)
        marks["open_warm"] = time.perf_counter()
        parts.folders.open_folder(folder)
        return lambda: "painted_warm" in marks and "scan_finished_warm" in marks

    def comment_every_tenth() -> None:
        for k, i in enumerate(session.image_ids()[::10]):
            session.set_comment(f"note {k % 97}", i)

    def hover_tooltip() -> None:  # what resting the pointer on a row costs: its review record, read from the store
        proxy_index = panel.proxy.index(panel.proxy.rowCount() // 2, 0)
        panel.proxy.data(proxy_index, Qt.ItemDataRole.ToolTipRole)

    plan: list[tuple[str, Callable[[], Any]]] = [
        ("ai_results_burst_unsorted", lambda: burst(1)),
        ("comment_every_tenth_image", comment_every_tenth),
        ("flush_store", session.flush),
        ("row_tooltip_with_record", hover_tooltip),
        *((f"sort_{c}", (lambda c=c: panel.table.sortByColumn(COLUMNS.index(c), Qt.SortOrder.AscendingOrder)))
          for c in COLUMNS),
        ("sort_ai_p_descending", panel.sort_by_probability),
        ("filter_status_unreviewed", lambda: panel.status_filter.setCurrentText("unreviewed")),
        ("filter_status_all", lambda: panel.status_filter.setCurrentText("All")),
        ("search_keystroke", lambda: panel.search.setText("1")),
        ("search_second_keystroke", lambda: panel.search.setText("1.")),
        ("search_cleared", lambda: panel.search.setText("")),
        ("search_comment", lambda: panel.search.setText("note 5")),
        ("search_comment_cleared", lambda: panel.search.setText("")),
        ("run_ai_queue", lambda: session.ai_queue([*panel.visible_image_ids(), *session.image_ids()], "other-sha")),
        ("ai_results_burst_while_sorted", lambda: burst(2)),
        ("store_flush_before_reopen", session.flush),  # the writer catches up (not a target: off the GUI thread)
        ("reopen_warm_sorted", reopen),
    ]
    queue = list(plan)

    def next_step() -> None:
        if not queue:
            marks["end"] = time.perf_counter()
            QTimer.singleShot(50, app.quit)
            return
        name, fn = queue.pop(0)
        t0 = time.perf_counter()
        done = fn()
        if not callable(done):
            spans[name] = (t0, time.perf_counter())
            QTimer.singleShot(SETTLE_MS, next_step)
            return

        def poll() -> None:
            if done():
                spans[name] = (t0, time.perf_counter())
                QTimer.singleShot(SETTLE_MS, next_step)
            else:
                QTimer.singleShot(10, poll)

        poll()

    def painted(_image_id: str) -> None:
        if "painted" not in marks:
            marks["painted"] = time.perf_counter()
        elif "open_warm" in marks and "painted_warm" not in marks:
            marks["painted_warm"] = time.perf_counter()

    def scan_finished(*_: Any) -> None:
        if "scan_finished" not in marks:
            marks["scan_finished"] = time.perf_counter()
            marks["scan_finished_cpu"] = time.thread_time()
            QTimer.singleShot(500, next_step)
        else:
            marks["scan_finished_warm"] = time.perf_counter()

    def first_rows(*_: Any) -> None:
        if "open_warm" in marks:
            marks.setdefault("rows_warm", time.perf_counter())
        else:
            marks.setdefault("rows", time.perf_counter())

    parts.folders.scanFinished.connect(scan_finished)
    parts.nav.imagePainted.connect(painted)
    parts.worklist_model.rowsInserted.connect(first_rows)

    def start() -> None:
        hb.start()
        marks["open_cpu"] = time.thread_time()
        marks["open"] = time.perf_counter()
        parts.folders.open_folder(folder)

    QTimer.singleShot(100, start)
    QTimer.singleShot(1_800_000, app.quit)
    app.exec()
    hb.stop()
    rss = _rss_mb()
    n_rows = parts.worklist_model.rowCount()
    memory_top = None
    if args.trace_memory:
        import tracemalloc

        snap = tracemalloc.take_snapshot()
        memory_top = [{"where": str(s.traceback[0]), "mb": round(s.size / 2**20, 1), "blocks": s.count}
                      for s in snap.statistics("lineno")[:12]]

    def gaps(t0: float, t1: float) -> dict[str, float]:
        """The longest heartbeat gap in [t0, t1] (what a user feels; on a loaded machine it includes time the
        process was not scheduled) and the most GUI-thread CPU time spent between two heartbeats (our own work)."""
        pairs = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(ticks) if b[0] >= t0 and a[0] <= t1]
        return {"max_gap_ms": round(max((p[0] for p in pairs), default=0.0) * 1000, 1),
                "max_gap_cpu_ms": round(max((p[1] for p in pairs), default=0.0) * 1000, 1)}

    out_steps: dict[str, dict[str, float]] = {
        "open_cold_streaming": gaps(marks["open"], marks["scan_finished"]),
        "open_cold_scan_end": gaps(marks["scan_finished"] - 0.3, marks["scan_finished"] + 0.3),
    }
    for name, (t0, t1) in spans.items():
        out_steps[name] = {"work_ms": round((t1 - t0) * 1000, 1), **gaps(t0, t1 + 0.05)}
    if "scan_finished_warm" in marks:
        out_steps["reopen_warm_scan_end"] = gaps(marks["scan_finished_warm"] - 0.3, marks["scan_finished_warm"] + 0.3)

    # baseline: a plain Qt sort of the same rows (typed values, no Python callbacks)
    base_model = QStandardItemModel(n_rows, len(COLUMNS))
    src = parts.worklist_model
    for r in range(n_rows):
        for c in range(len(COLUMNS)):
            item = QStandardItem()
            item.setData(src.data(src.index(r, c)), Qt.ItemDataRole.DisplayRole)
            base_model.setItem(r, c, item)
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(base_model)
    base_sorts = {}
    for c in (0, COL_PROB):
        t0 = time.perf_counter()
        proxy.sort(c, Qt.SortOrder.AscendingOrder)
        base_sorts[COLUMNS[c]] = round((time.perf_counter() - t0) * 1000, 1)
    w.close()
    del base_model, proxy
    bare_s = _bare_window_first_paint(folder)
    ours = {c: out_steps[f"sort_{c}"]["work_ms"] for c in base_sorts}
    t_open = marks["open"]
    cold_paint = marks["painted"] - t_open
    warm_paint = marks.get("painted_warm", float("nan")) - marks.get("open_warm", float("nan"))
    targets = {k: v for k, v in out_steps.items() if k not in ("flush_store", "store_flush_before_reopen")}
    worst = {key: max((v[key] for v in targets.values()), default=0.0) for key in ("max_gap_ms", "max_gap_cpu_ms")}
    print(json.dumps({
        "machine": machine(load0),
        "benchmark": "gui_scale",
        "images": args.n, "size": args.size, "rows": n_rows,
        "phantoms_generated_s": round(gen_s, 1),
        "open_cold": {
            "to_first_rows_s": round(marks["rows"] - t_open, 3),
            "to_first_paint_s": round(cold_paint, 3),
            "to_scan_finished_s": round(marks["scan_finished"] - t_open, 3),
            "process_start_to_first_paint_s": round(marks["painted"] - T_START, 3),
            # the GUI thread's own CPU while the rows streamed in (what streaming takes from the scan's GIL share)
            "gui_thread_cpu_s": round(marks["scan_finished_cpu"] - marks["open_cpu"], 3),
        },
        "reopen_warm": {
            "to_first_rows_s": round(marks.get("rows_warm", float("nan")) - marks.get("open_warm", float("nan")), 3),
            "to_first_paint_s": round(warm_paint, 3),
            "to_scan_finished_s": round(
                marks.get("scan_finished_warm", float("nan")) - marks.get("open_warm", float("nan")), 3),
        },
        "bare_pyside6_pydicom_window_first_paint_s": round(bare_s, 3),
        "first_paint_ratio_to_bare_window": {"cold": round(cold_paint / bare_s, 3),
                                             "warm": round(warm_paint / bare_s, 3)},
        "steps": out_steps,
        "worst_step_gaps_ms": worst,
        "bare_qt_sort_ms": base_sorts,
        "sort_ratio_to_bare_qt": {c: round(ours[c] / max(base_sorts[c], 0.1), 2) for c in base_sorts},
        "window_rss_mb": rss,
        "memory_top": memory_top,
        "targets": {"max_gap_ms": 50, "first_paint_cold_s": 2.0, "first_paint_warm_s": 1.0, "window_rss_mb": 600,
                    "sort_ratio_to_bare_qt": 2.0},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
