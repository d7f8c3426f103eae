#!/usr/bin/env python3
"""Fixed, stratified dev/test split of the real-data kit (``../shared/data``), the same for every model.

Writes, into OUT (outside the repository: the CSVs carry SIIM masks, which may never be committed):

- ``dev-rle.csv``: the rows of the development images (``pneumoviewer train`` splits these again into train and
  validation; validation picks epochs, thresholds and the model);
- ``test-rle.csv``: the held-out rows, used once, for the figures in the model card;
- ``split.json``: counts, seed and a sha256 of the sorted test ImageIds, so a rebuild can prove it got the same split.

Stratified by label; NIH images are grouped by NIH patient (the number in the file name), so one patient's films
never sit on both sides. Rows are copied byte for byte, one instance per row as in SIIM's ``train-rle.csv``.

    .venv/bin/python packaging/real/split.py KIT/siim-train OUT [--seed 2026] [--test-fraction 0.2]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np


def _groups(kit: Path) -> dict[str, str]:
    """ImageId → group key (NIH patient number, else the image itself)."""
    out: dict[str, str] = {}
    with open(kit / "sources.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            m = re.search(r"(\d{8})_\d{3}\.png", row["origin"])
            out[row["ImageId"]] = f"nih:{m.group(1)}" if m and row["source"] != "siim" else f"img:{row['ImageId']}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kit", type=Path, help="the kit's siim-train folder")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    args = ap.parse_args()

    lines = (args.kit / "train-rle.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    by_id: dict[str, list[str]] = {}
    for line in rows:
        by_id.setdefault(line.split(",", 1)[0].strip(), []).append(line)
    positive = {i: any(r.split(",", 1)[1].strip() != "-1" for r in rs) for i, rs in by_id.items()}
    group_of = _groups(args.kit)
    groups: dict[str, list[str]] = {}
    for iid in sorted(by_id):
        groups.setdefault(group_of.get(iid, f"img:{iid}"), []).append(iid)

    rng = np.random.default_rng(args.seed)
    test: set[str] = set()
    for label in (True, False):
        keys = sorted(k for k, ids in groups.items() if any(positive[i] for i in ids) == label)
        n_images = sum(len(groups[k]) for k in keys)
        taken = 0
        for k in (keys[i] for i in rng.permutation(len(keys))):
            if taken >= args.test_fraction * n_images:
                break
            test.update(groups[k])
            taken += len(groups[k])

    args.out.mkdir(parents=True, exist_ok=True)
    for name, keep in (("dev-rle.csv", lambda i: i not in test), ("test-rle.csv", lambda i: i in test)):
        with open(args.out / name, "w", encoding="utf-8", newline="") as fh:
            fh.write(header)
            fh.writelines(line for line in rows if keep(line.split(",", 1)[0].strip()))
    summary = {
        "seed": args.seed, "test_fraction": args.test_fraction,
        "dev_images": len(by_id) - len(test), "dev_positive": sum(positive[i] for i in by_id if i not in test),
        "test_images": len(test), "test_positive": sum(positive[i] for i in test),
        "test_ids_sha256": hashlib.sha256("\n".join(sorted(test)).encode()).hexdigest(),
    }
    (args.out / "split.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
