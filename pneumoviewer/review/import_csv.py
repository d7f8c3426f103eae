"""Import a SIIM mask CSV into a review store: as the starting final masks, or as a reference layer.

All or nothing: the whole file is parsed and every row decoded at its image's size before one transaction writes
anything, so a malformed file (refused with file + line) leaves the store untouched. Images of the CSV that are not
in the folder (their size is unknown) are skipped and reported.

An image whose DICOM now has another size than the review store recorded (re-saved, resampled) is refused the same
way, naming the CSV line of its first row and both sizes, and nothing is imported. Chosen over skipping it because
the store's masks of that image no longer fit it either: the reviewer must learn of the mismatch before importing
labels around it, and the GUI reports a failed import as "nothing was imported" (one rule for every refusal).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pneumoviewer.io import rle
from pneumoviewer.io.siim_csv import CsvError, read_rle_csv
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
    conflicts: list[str] = []
    for image_id in table.image_ids:
        size = sizes.get(image_id)
        if size is None:
            res.not_in_folder.append(image_id)
            continue
        h, w = int(size[0]), int(size[1])
        stored = store.image_size(image_id)
        if stored is not None and stored != (h, w):
            conflicts.append(image_id)
            continue
        union = table.union_mask(image_id, h, w)  # bounds check per row: CsvError names the line
        if layer == "final":
            union_rles[image_id] = rle.encode(union)
        rows_by_image[image_id] = table.rows(image_id)
        known[image_id] = (h, w)
    if conflicts:
        first = conflicts[0]
        (sh, sw), (h, w) = store.image_size(first), sizes[first]
        more = f" ({len(conflicts) - 1} more image(s) like it)" if len(conflicts) > 1 else ""
        raise CsvError(
            path,
            table.first_line(first),
            f"{first}: the review store has this image at {sh}x{sw} but its DICOM in the folder is {h}x{w} "
            f"(re-saved at another size?){more}; remove its rows from the CSV or restore the original image",
        )
    res.rows = sum(len(r) for r in rows_by_image.values())
    source = Path(path).name
    if layer == "final":
        res.images = store.import_final_rows(rows_by_image, known, source, union_rles=union_rles)
        res.kept_edits = len(rows_by_image) - res.images
    else:
        res.images = store.import_reference_rows(rows_by_image, known, source)
    return res
