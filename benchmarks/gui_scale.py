"""The whole folder in one window: GUI-thread stalls of the worklist steps at 1k / 12k images (JSON on stdout).

Generates (or reuses, under --folder) N phantoms, opens them in the real window (`app.build_window`, no AI worker)
and runs, one after the other on the GUI thread with a 5 ms QTimer heartbeat: open (scan finished → worklist
filled, probabilities and statuses restored), first image painted, a burst of AI results for every image (fed to
`ReviewSession.add_prediction` as the AI controller does, all in one burst), a comment on every tenth image, one
row's tooltip (its review record read from the store), sort by each column, filter by status, a search keystroke
and clearing it, a comment search, Run AI queueing (`ReviewSession.ai_queue`), a second burst while sorted by AI
probability; then the window's RSS. The longest heartbeat gap per step is the stall a user feels. Baseline: a bare
`QSortFilterProxyModel` + `QStandardItemModel` of the same rows, sorted in the same process.

    .venv/bin/python benchmarks/gui_scale.py [--n 1000] [--size 256] [--folder DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import isolated_env, load_avg, machine


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256, help="phantom size (the issue's figures use 1024)")
    ap.add_argument("--folder", type=Path, help="cache dir for the phantom folder (reused when it holds N images)")
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-scale-"))
    os.environ.update(isolated_env(tmp))

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

    app = QApplication([])
    apply_dark_theme(app)
    w = build_window(run_ai=False)
    w.resize(1600, 1000)
    w.show()
    parts = w.parts
    panel, session = parts.worklist, parts.session
    ticks: list[float] = []
    hb = QTimer()
    hb.setTimerType(Qt.TimerType.PreciseTimer)
    hb.setInterval(5)
    hb.timeout.connect(lambda: ticks.append(time.perf_counter()))
    steps: list[tuple[str, float, float]] = []  # name, start, end (of the synchronous work)
    marks: dict[str, float] = {}
    model = ModelInfo("scale-bench", "0", synthetic=True)

    def burst(seed: int) -> None:
        rng = np.random.default_rng(seed)
        ids = session.image_ids()
        for i in ids:
            meta = session.meta(i)
            assert meta is not None
            mask = np.zeros((meta.rows, meta.columns), bool)
            session.add_prediction(Prediction(i, float(rng.random()), mask, model))

    def timed(name: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        fn()
        steps.append((name, t0, time.perf_counter()))

    def comment_every_tenth() -> None:
        for k, i in enumerate(session.image_ids()[::10]):
            session.set_comment(f"note {k % 97}", i)

    def hover_tooltip() -> None:  # what resting the pointer on a row costs: its review record, read from the store
        proxy_index = panel.proxy.index(panel.proxy.rowCount() // 2, 0)
        panel.proxy.data(proxy_index, Qt.ItemDataRole.ToolTipRole)

    plan: list[tuple[str, object]] = [
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
    ]
    queue = list(plan)

    def next_step() -> None:
        if not queue:
            marks["end"] = time.perf_counter()
            QTimer.singleShot(50, app.quit)
            return
        name, fn = queue.pop(0)
        timed(name, fn)
        QTimer.singleShot(150, next_step)  # let the heartbeat and painting catch up between steps

    def painted(_image_id: str) -> None:
        if "painted" not in marks:
            marks["painted"] = time.perf_counter()
            QTimer.singleShot(300, next_step)

    parts.folders.scanFinished.connect(lambda *_: marks.setdefault("scan_finished", time.perf_counter()))
    parts.nav.imagePainted.connect(painted)

    def start() -> None:
        hb.start()
        marks["open"] = time.perf_counter()
        parts.folders.open_folder(folder)

    QTimer.singleShot(100, start)
    QTimer.singleShot(1_800_000, app.quit)
    app.exec()
    hb.stop()
    rss = _rss_mb()
    n_rows = parts.worklist_model.rowCount()

    def max_gap(t0: float, t1: float) -> float:
        gaps = [b - a for a, b in itertools.pairwise(ticks) if b >= t0 and a <= t1]
        return round(max(gaps, default=0.0) * 1000, 1)

    out_steps = {name: {"work_ms": round((t1 - t0) * 1000, 1), "max_gap_ms": max_gap(t0, t1)}
                 for name, t0, t1 in steps}
    t_open = marks["open"]
    out_steps["open_scan_finished_to_filled"] = {"max_gap_ms": max_gap(marks["scan_finished"], marks["painted"])}

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
    ours = {c: out_steps[f"sort_{c}"]["work_ms"] for c in base_sorts}
    print(json.dumps({
        "machine": machine(load0),
        "benchmark": "gui_scale",
        "images": args.n, "size": args.size, "rows": n_rows,
        "phantoms_generated_s": round(gen_s, 1),
        "open_to_scan_finished_s": round(marks["scan_finished"] - t_open, 3),
        "open_to_first_paint_s": round(marks["painted"] - t_open, 3),
        "steps": out_steps,
        "bare_qt_sort_ms": base_sorts,
        "sort_ratio_to_bare_qt": {c: round(ours[c] / max(base_sorts[c], 0.1), 2) for c in base_sorts},
        "window_rss_mb": rss,
        "target_max_gap_ms": 50,
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
