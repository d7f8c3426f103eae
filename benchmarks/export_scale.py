"""Export of a SIIM-sized review store (issue 13: 12k images ≤ 3 s) against a bare sqlite dump of the same rows.

Fills a temporary review store with `--n` 1024² final masks (22% positive, phantom pneumothorax shapes, the rest
negative) as a review leaves them (each with the component rows its save stored), then times
`review.export.export` for the training-style CSV (one row per 8-connected component: the rows stored with each
mask, nothing is labelled or decoded) and the submission-style CSV, each against a bare baseline in the same process
(the same rows straight from sqlite written as lines), plus, once each, labelling the components from the runs at
export (a store without stored rows) and the way before issue 13 (decode every mask, label the image). Prints one
JSON object.

    .venv/bin/python benchmarks/export_scale.py [--n 12000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pneumoviewer.io import rle
from pneumoviewer.phantom import sample_instances
from pneumoviewer.review.export import ExportPlan, export
from pneumoviewer.review.schema import component_rows
from pneumoviewer.review.store import ReviewStore

SIZE = 1024


def fill(store: ReviewStore, n: int, positive_rate: float = 0.22, shapes: int = 60,
         components: bool = True) -> int:
    """`n` final masks: positives cycle through `shapes` phantom masks; returns the number of positives.

    Written in one transaction (an import), then marked as edited with the component rows a reviewer's save stores
    (`ReviewStore.set_final_mask` labels each mask once, when it is written), so the export reads what it would read
    after a review (imported, unedited rows would be copied verbatim). With ``components=False`` the rows are left
    out, as in a store whose masks were all written outside the app: the export then labels every positive."""
    import sqlite3

    unions = []
    for seed in range(shapes):
        union = np.zeros((SIZE, SIZE), bool)
        for inst in sample_instances(seed, SIZE):
            union |= inst
        unions.append(rle.encode(union))
    rng = np.random.default_rng(0)
    positive = rng.random(n) < positive_rate
    ids = [f"1.2.826.0.1.{i}" for i in range(n)]
    union_of = {iid: unions[i % shapes] if positive[i] else rle.EMPTY for i, iid in enumerate(ids)}
    store.import_final_rows({iid: [u] for iid, u in union_of.items()}, dict.fromkeys(ids, (SIZE, SIZE)),
                            "benchmark", union_rles=union_of)
    rows_of = {u: "\n".join(component_rows(u, SIZE)) for u in {*unions, rle.EMPTY}}
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE images SET final_from_import=0, status='corrected'")
        if components:
            conn.executemany("UPDATE images SET final_components=? WHERE image_id=?",
                             [(rows_of[u], iid) for iid, u in union_of.items()])
    conn.close()
    return int(positive.sum())


def decode_and_label(store: ReviewStore) -> int:
    """Training rows the way the export made them before issue 13: decode each mask, label the image."""
    from pneumoviewer.io.siim_csv import mask_to_rows

    return sum(len(mask_to_rows(e.image_id, rle.decode(e.final_rle, e.height, e.width)))
               for e in store.final_entries())


def bare_dump(db: Path, out: Path) -> None:
    """The training rows straight from sqlite (the stored component rows, `-1` for a negative), as lines."""
    import sqlite3

    conn = sqlite3.connect(db)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("ImageId,EncodedPixels\n")
        for image_id, rows in conn.execute("SELECT image_id, final_components FROM images WHERE final_rle IS NOT NULL"):
            for row in rows.split("\n") if rows else ("-1",):
                fh.write(f"{image_id},{row}\n")
    conn.close()


def bare_dump_union(db: Path, out: Path) -> None:
    """The submission rows straight from sqlite (one union RLE per image), as lines."""
    import sqlite3

    conn = sqlite3.connect(db)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("ImageId,EncodedPixels\n")
        for image_id, text in conn.execute("SELECT image_id, final_rle FROM images WHERE final_rle IS NOT NULL"):
            fh.write(f"{image_id},{text}\n")
    conn.close()


def label_at_export(store: ReviewStore) -> int:
    """Training rows labelled from the runs at export time (what the export does where no rows are stored)."""
    from dataclasses import replace

    from pneumoviewer.review.export import csv_rows

    return len(csv_rows([replace(e, components=None) for e in store.final_entries()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("PNEUMOVIEWER_DATA", str(root / "data"))
        (root / "study").mkdir()
        with ReviewStore.open(root / "study") as store:
            t0 = time.perf_counter()
            positives = fill(store, args.n)
            fill_s = time.perf_counter() - t0
            db = Path(store.path)
            timings: dict[str, list[float]] = {"train_csv": [], "submission_csv": [], "bare_dump": [],
                                               "bare_dump_union": [], "label_at_export": [], "decode_and_label": []}
            for k in range(args.repeat):  # alternate, so load changes hit all alike
                t = time.perf_counter()
                export(store, ExportPlan(csv=root / f"train{k}.csv"))
                timings["train_csv"].append(time.perf_counter() - t)
                t = time.perf_counter()
                export(store, ExportPlan(csv=root / f"sub{k}.csv", style="submission"))
                timings["submission_csv"].append(time.perf_counter() - t)
                t = time.perf_counter()
                bare_dump(db, root / f"bare{k}.csv")
                timings["bare_dump"].append(time.perf_counter() - t)
                t = time.perf_counter()
                bare_dump_union(db, root / f"bare-union{k}.csv")
                timings["bare_dump_union"].append(time.perf_counter() - t)
                if k == 0:  # labelling at export, and the way before issue 13, once each for the same-run ratios
                    t = time.perf_counter()
                    label_at_export(store)
                    timings["label_at_export"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    decode_and_label(store)
                    timings["decode_and_label"].append(time.perf_counter() - t)
            rows = len((root / "train0.csv").read_text(encoding="utf-8").splitlines()) - 1
            same_rows = (root / "train0.csv").read_bytes() == (root / "bare0.csv").read_bytes()
    best = {k: round(min(v), 3) for k, v in timings.items()}
    print(json.dumps({
        "images": args.n,
        "positives": positives,
        "train_rows": rows,
        "train_csv_equals_bare_dump": same_rows,
        "fill_s": round(fill_s, 1),
        "best_s": best,
        "all_s": {k: [round(x, 3) for x in v] for k, v in timings.items()},
        "train_vs_bare": round(best["train_csv"] / max(best["bare_dump"], 1e-9), 1),
        "submission_vs_bare_union": round(best["submission_csv"] / max(best["bare_dump_union"], 1e-9), 1),
        "label_at_export_vs_train": round(best["label_at_export"] / max(best["train_csv"], 1e-9), 1),
        "decode_and_label_vs_train": round(best["decode_and_label"] / max(best["train_csv"], 1e-9), 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }, indent=2))


if __name__ == "__main__":
    main()
