"""Import a SIIM mask CSV into a review store: as the starting final masks, or as a reference layer.

All or nothing: the whole file is parsed and every row decoded at its image's size before one transaction writes
anything, so a malformed file (refused with file + line) leaves the store untouched. Images of the CSV that are not
in the folder (their size is unknown) are skipped and reported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pneumoviewer.io import rle
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.review.store import ReviewStore

LAYERS = ("final", "reference")


@dataclass
class ImportResult:
    images: int = 0  # images written
    rows: int = 0
    kept_edits: int = 0  # images whose reviewer-edited final mask was kept (final layer only)
    not_in_folder: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "rows": self.rows,
            "kept_edits": self.kept_edits,
            "not_in_folder": len(self.not_in_folder),
        }


def import_csv(
    store: ReviewStore,
    path: str | os.PathLike[str],
    sizes: Mapping[str, tuple[int, int]],
    *,
    layer: str = "final",
) -> ImportResult:
    """Read `path` (raises :class:`~pneumoviewer.io.siim_csv.CsvError` with file + line) and import it.

    `sizes` maps ImageId → (rows, columns), normally from the folder index. ``layer="final"`` starts the
    reviewer's masks from the CSV (never overwriting an image the reviewer already edited; the raw rows are kept so
    an unedited image exports exactly the rows it came with); ``layer="reference"`` replaces the reference layer
    (ground truth or someone's predictions, shown alongside and used for agreement).
    """
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
    table = read_rle_csv(path)
    res = ImportResult()
    rows_by_image: dict[str, list[str]] = {}
    known: dict[str, tuple[int, int]] = {}
    union_rles: dict[str, str] = {}  # kept encoded: 12,000 decoded 1024² masks would not fit in memory
    for image_id in table.image_ids:
        size = sizes.get(image_id)
        if size is None:
            res.not_in_folder.append(image_id)
            continue
        h, w = int(size[0]), int(size[1])
        union = table.union_mask(image_id, h, w)  # bounds check per row: CsvError names the line
        if layer == "final":
            union_rles[image_id] = rle.encode(union)
        rows_by_image[image_id] = table.rows(image_id)
        known[image_id] = (h, w)
    res.rows = sum(len(r) for r in rows_by_image.values())
    source = Path(path).name
    if layer == "final":
        res.images = store.import_final_rows(rows_by_image, known, source, union_rles=union_rles)
        res.kept_edits = len(rows_by_image) - res.images
    else:
        res.images = store.import_reference_rows(rows_by_image, known, source)
    return res
