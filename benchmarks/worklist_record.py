"""The worklist's review record and comments at 12,000 rows: what the row tooltip, the comments column and its
sort / search cost the GUI thread, on a real `ReviewSession` and store (JSON on stdout).

The session gets a folder index of N images (no pixel files: nothing here decodes), an AI result for every image
(so the journal is as long as after a real run), a comment on every tenth image and a negative-then-flag on every
fifth (status history). Then a `WorklistPanel` fills with the N rows and the script times: the fill, a sort by the
comment column, a comment search, one comment edit while sorted by comment, and the tooltip of a row (its record read
from the store) for reviewed and unreviewed rows; `record_reads_before_hover` counts the record reads that fill,
sorts and a paint of the table made (the record is read only for the hovered row: 0).

    .venv/bin/python benchmarks/worklist_record.py [--n 12000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import isolated_env, load_avg, machine


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12000)
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-record-"))
    import os

    os.environ.update(isolated_env(tmp))

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.core.types import ImageMeta, ModelInfo, Prediction
    from pneumoviewer.gui.review_controller import SessionSignals
    from pneumoviewer.gui.worklist import COL_COMMENT, COL_ID, COLUMNS, WorklistModel, WorklistPanel, WorklistRow
    from pneumoviewer.io.folder import FolderIndex, IndexedImage
    from pneumoviewer.review import ReviewStore
    from pneumoviewer.review.session import ReviewSession

    app = QApplication([])
    folder = tmp / "studies"
    folder.mkdir()
    images = [IndexedImage(folder / f"{i}.dcm", ImageMeta(f"1.2.826.0.1.{i}", rows=64, columns=64,
                                                          view_position="PA" if i % 3 else "AP"))
              for i in range(args.n)]
    session = ReviewSession(ReviewStore.open)
    session.open_folder(folder)
    session.set_index(FolderIndex(folder, images=images))
    ids = session.image_ids()
    rng = np.random.default_rng(3)
    model_info = ModelInfo("record-bench", "0", synthetic=True)
    t0 = time.perf_counter()
    for i in ids:
        session.add_prediction(Prediction(i, float(rng.random()), np.zeros((64, 64), bool), model_info))
    for k, i in enumerate(ids[::10]):
        session.set_comment(f"note {k % 97}", i)
    for i in ids[::5]:
        session.mark_negative(i)
    session.flush()  # the negatives reach the journal before the flags replace them (no coalescing)
    for i in ids[::5]:
        session.flag(i)
    session.flush()
    setup_s = round(time.perf_counter() - t0, 1)

    reads: list[str] = []

    def record_of(image_id: str) -> object:
        reads.append(image_id)
        return session.review_history(image_id)

    model = WorklistModel()
    model.set_status_source(session.status, session.comment, record_of)
    signals = SessionSignals(session)  # as the review controller does: a label change reaches the worklist
    signals.statusChanged.connect(lambda image_id, _status: model.status_changed(image_id))
    panel = WorklistPanel(model)
    panel.resize(900, 700)
    panel.show()
    rows = [WorklistRow(im.path, im.meta) for im in images]
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    model.set_rows(rows)
    out["fill_ms"] = _ms(t0)
    t0 = time.perf_counter()
    panel.table.sortByColumn(COL_COMMENT, Qt.SortOrder.AscendingOrder)
    out["sort_by_comment_ms"] = _ms(t0)
    for col in range(len(COLUMNS)):
        panel.table.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    panel.table.sortByColumn(COL_COMMENT, Qt.SortOrder.AscendingOrder)
    t0 = time.perf_counter()
    panel.search.setText("note 5")
    out["search_comment_ms"] = _ms(t0)
    out["search_matches"] = panel.proxy.rowCount()
    panel.search.setText("")
    t0 = time.perf_counter()
    panel.grab()
    out["paint_table_ms"] = _ms(t0)
    out["record_reads_before_hover"] = len(reads)
    edited = ids[len(ids) // 2]
    t0 = time.perf_counter()
    session.set_comment("aaa first now", edited)
    first = panel.visible_image_ids()[0]  # applies the pending re-sort
    out["comment_edit_resorted_ms"] = _ms(t0)
    out["edited_row_first"] = first == edited
    session.flush()

    def tooltip_ms(image_ids: list[str]) -> dict[str, float]:
        times = []
        for i in image_ids:
            row = model.row_for(i)
            assert row is not None
            idx = panel.proxy.mapFromSource(model.index(row, COL_ID))
            t = time.perf_counter()
            panel.proxy.data(idx, Qt.ItemDataRole.ToolTipRole)
            times.append((time.perf_counter() - t) * 1000)
        return {"p50_ms": round(float(np.median(times)), 2), "max_ms": round(max(times), 2)}

    out["tooltip_reviewed_row"] = tooltip_ms(ids[::5][::60])
    out["tooltip_unreviewed_row"] = tooltip_ms(ids[1::5][::60])
    out["record_reads_per_tooltip"] = round((len(reads) - out["record_reads_before_hover"]) /  # type: ignore[operator]
                                            (len(ids[::5][::60]) + len(ids[1::5][::60])), 2)
    panel.close()
    session.close()
    print(json.dumps({
        "machine": machine(load0),
        "benchmark": "worklist_record",
        "images": args.n,
        "journal_entries": args.n + args.n // 10 + 2 * (args.n // 5),
        "setup_s": setup_s,
        **out,
    }, indent=2))
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
