"""The one export of the reviewer's masks: SIIM RLE CSV, PNG masks, DICOM SEG. The CLI (`pneumoviewer export`) and
the GUI (File ▸ Export) both call :func:`export`, so the same store gives byte-identical files either way.

Which images: every image with a final mask (accepted, corrected, negative, flagged after an edit, or imported as a
starting label); ``only_reviewed`` keeps just accepted / corrected / negative. Images without a final mask are never
written — an unreviewed image is not a negative.

Guarantees:

- **Atomic.** The CSV is written to a temporary file and renamed; PNGs and SEGs are written into a temporary folder
  beside the target, which replaces the target folder only when every file is written (a full disk or a cancel
  leaves the previous export as it was, and the error names the file that failed). A target folder that holds
  anything but a previous export of the same kind is refused (it is never emptied).
- **One bad image never blocks the rest.** An ImageId that is not CSV- and file-name-safe, a source DICOM that is
  missing, unreadable, changed since the folder was indexed, or re-saved at another size is skipped with its reason
  (`ExportResult.skipped`); everything else is written.
- **Right patient.** Before a SEG is made, its source file is read again and its SOPInstanceUID and header digest
  must match what the folder index recorded when the reviewer opened it and what the store recorded with the mask
  (`FinalEntry.source`): a file replaced in place (``cp -p``, ``rsync -a``: same size and mtime) is refused, never
  exported with another image's mask. With an index, CSV and PNG rows of an image whose file changed since its
  mask was saved are refused too.
- **No identifiers.** CSV and PNG carry only the ImageId (SOPInstanceUID). A SEG copies from its source only what
  the PS3.15 Basic profile leaves (`pneumoviewer.io.dicom.deidentify`; ``DeidOptions(keep_patient=True)`` is the
  user's explicit choice to keep the patient's identity for PACS filing).
- Export folders carry a marker file (`EXPORT_MARKER`) so the folder index never lists what the app wrote.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumoviewer.core.text import printable
from pneumoviewer.core.types import Cancelled, ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.io.atomic import UMASK
from pneumoviewer.io.dicom import DicomError, read_dataset, read_header
from pneumoviewer.io.dicom.deidentify import PROFILE, DeidOptions
from pneumoviewer.io.dicom.write import dataset_bytes
from pneumoviewer.io.folder import EXPORT_MARKER, FolderIndex
from pneumoviewer.io.png import mask_png_bytes
from pneumoviewer.io.seg import SegAlgorithm, SegError, build_seg
from pneumoviewer.io.siim_csv import write_rle_csv
from pneumoviewer.review.schema import component_rows
from pneumoviewer.review.store import FinalEntry, ReviewStore

Progress = Callable[[int, int], None]
CancelFn = Callable[[], bool]

#: An ImageId is written only when it is made of these characters (every real SOPInstanceUID is: digits and dots)
#: and at most `MAX_ID_LENGTH` long, so it is one CSV field without quoting and a file name on every system.
_SAFE_ID = re.compile(r"^[0-9A-Za-z._-]+$")
MAX_ID_LENGTH = 128


class ExportError(RuntimeError):
    """An export that cannot be done at all (nothing to export to, a target folder that is not an export, …)."""


@dataclass(frozen=True)
class ExportPlan:
    """What to export and where; a part whose target is None is not written."""

    csv: Path | None = None
    style: str = "train"  # train: one row per 8-connected component, -1 for negatives; submission: one per image
    png: Path | None = None
    seg: Path | None = None
    only_reviewed: bool = False
    layer: str = "final"  # "original": the AI masks instead of the reviewer's
    # whose AI masks ("original"; for "final", the model a corrected SEG names): a bundle sha256 ('' unknown bundle),
    # None = per image the folder's current model (the one the app shows), else the newest result
    model_sha256: str | None = None
    deid: DeidOptions = PROFILE

    def parts(self) -> list[str]:
        return [name for name in ("csv", "png", "seg") if getattr(self, name) is not None]


@dataclass
class ExportResult:
    """What one part of an export wrote (for the CLI summary and the GUI's message)."""

    path: Path
    images: int = 0
    rows: int = 0
    positives: int = 0
    negatives: int = 0
    kept_import_rows: int = 0  # unedited imported images written with their original rows
    files: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # image_id (printable) -> reason

    def count(self, positive: bool) -> None:
        self.images += 1
        if positive:
            self.positives += 1
        else:
            self.negatives += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "images": self.images,
            "rows": self.rows,
            "positives": self.positives,
            "negatives": self.negatives,
            "kept_import_rows": self.kept_import_rows,
            "files": self.files,
            "skipped": dict(self.skipped),
        }


def default_export_dir(folder: str | os.PathLike[str]) -> Path:
    """Where exports of `folder` go unless the user says otherwise: outside the study folder (a study folder is
    the source data, often read-only or shared), under the home folder."""
    name = Path(folder).name or "folder"
    return Path.home() / "PneumoViewer exports" / name


def unsafe_id_reason(image_id: str) -> str | None:
    """Why `image_id` cannot be written as a CSV field and a file name, or None when it can."""
    if len(image_id) > MAX_ID_LENGTH:
        return f"ImageId is {len(image_id)} characters long (at most {MAX_ID_LENGTH} are written)"
    if not _SAFE_ID.match(image_id) or image_id in (".", ".."):
        return "ImageId holds characters that are not CSV- or file-name-safe (only letters, digits, '.', '_', '-')"
    return None


def export(
    store: ReviewStore,
    plan: ExportPlan,
    index: FolderIndex | None = None,
    progress: Progress | None = None,
    cancel: CancelFn | None = None,
) -> dict[str, ExportResult]:
    """Write every part of `plan` from `store` (CSV, then PNGs, then SEGs); returns the result per part.

    `index` is the folder index the reviewer worked from (the SEG part needs it for the source files). With an
    index, an image whose mask was recorded against other file content (`FinalEntry.source`, kept by the store)
    is skipped in every part. `progress(done, total)` counts images over all parts; `cancel()` is polled before
    every image and raises :class:`~pneumoviewer.core.types.Cancelled` (nothing of the part under way is left
    behind).
    """
    parts = plan.parts()
    if not parts:
        raise ExportError("nothing to export: choose a CSV, PNG and/or SEG target")
    if plan.seg is not None and index is None:
        raise ExportError("a DICOM SEG export needs the folder's index (its source images)")
    entries = store.final_entries(only_reviewed=plan.only_reviewed, layer=plan.layer, model_sha256=plan.model_sha256)
    total = max(1, len(entries) * len(parts))
    ticker = _Ticker(progress, cancel, total)
    out: dict[str, ExportResult] = {}
    if plan.csv is not None:
        out["csv"] = write_csv(entries, plan.csv, plan.style, ticker, index)
    if plan.png is not None:
        out["png"] = _write_folder(entries, plan.png, ".png", ticker, _png_bytes, index)
    if plan.seg is not None:
        assert index is not None
        seg_of = _SegMaker(index, plan.deid)
        out["seg"] = _write_folder(entries, plan.seg, ".dcm", ticker, seg_of, index)
    ticker.finish()
    return out


class _Ticker:
    """Progress over all parts, and the cancel point before every image."""

    def __init__(self, progress: Progress | None, cancel: CancelFn | None, total: int) -> None:
        self.progress, self.cancel, self.total, self.done = progress, cancel, total, 0

    def step(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("export cancelled")
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def _decode(entry: FinalEntry) -> np.ndarray:
    return rle.decode(entry.final_rle, entry.height, entry.width)


def _exportable(
    entries: Iterable[FinalEntry], result: ExportResult, ticker: _Ticker, index: FolderIndex | None
) -> Iterator[FinalEntry]:
    """The entries that may be written: a CSV- and file-name-safe ImageId, and (with an index) a source that is
    still the file the mask was recorded against. The others are skipped with their reason."""
    for e in entries:
        ticker.step()
        reason = unsafe_id_reason(e.image_id) or _source_changed(e, index)
        if reason is not None:
            result.skipped[printable(e.image_id)[:80]] = reason
            continue
        yield e


def _source_changed(entry: FinalEntry, index: FolderIndex | None) -> str | None:
    """Why the folder's file for this image is not the one its mask was recorded against, or None (also when the
    store or the index cannot tell: nothing recorded, or the image is not in the folder)."""
    indexed = index.by_id(entry.image_id) if index is not None else None
    if entry.source is None or indexed is None:
        return None
    if indexed.meta.header_digest != entry.source.content_hash:
        return (f"{indexed.path}: the file changed since this mask was saved (same SOPInstanceUID, other content); "
                "refusing to export the mask for it — open the image and review it again")
    return None


# ---------------------------------------------------------------------------------------------------- CSV


def csv_rows(
    entries: Iterable[FinalEntry], style: str = "train", result: ExportResult | None = None
) -> list[tuple[str, str]]:
    """SIIM rows for the entries: ``train`` = one row per 8-connected component (``-1`` for a negative),
    ``submission`` = one merged row per image. An unedited imported image keeps the rows it came with (train
    style), so import → export without edits reproduces the file's rows exactly."""
    if style not in ("train", "submission"):
        raise ValueError(f"style must be 'train' or 'submission', got {style!r}")
    res = result if result is not None else ExportResult(Path())
    out: list[tuple[str, str]] = []
    for e in entries:
        if style == "train" and e.import_rows is not None:
            rows = [(e.image_id, r) for r in e.import_rows]
            res.kept_import_rows += 1
        elif style == "submission":
            rows = [(e.image_id, e.final_rle)]  # the stored union RLE is exactly the merged row
        else:  # the component rows stored with the mask; labelled here (on the runs) only where none are stored
            parts = e.components if e.components is not None else component_rows(e.final_rle, e.height)
            rows = [(e.image_id, part) for part in parts] or [(e.image_id, rle.EMPTY)]
        out.extend(rows)
        res.count(positive=not all(r == rle.EMPTY for _, r in rows))
    res.rows = len(out)
    return out


def write_csv(
    entries: list[FinalEntry], path: Path, style: str, ticker: _Ticker, index: FolderIndex | None = None
) -> ExportResult:
    """The SIIM CSV part (atomic): what `pneumoviewer train` reads and `pneumoviewer evaluate` scores."""
    res = ExportResult(Path(path))
    rows = csv_rows(_exportable(entries, res, ticker, index), style, res)
    write_rle_csv(path, rows)
    res.files = 1
    return res


# ---------------------------------------------------------------------------------------------------- PNG / SEG


def _png_bytes(entry: FinalEntry) -> tuple[bytes, bool]:
    mask = _decode(entry)
    return mask_png_bytes(mask), bool(mask.any())


def _write_folder(
    entries: list[FinalEntry],
    target: Path,
    suffix: str,
    ticker: _Ticker,
    make: Callable[[FinalEntry], tuple[bytes, bool]],
    index: FolderIndex | None,
) -> ExportResult:
    """One ``<ImageId><suffix>`` per entry, written into a temporary folder that then replaces `target`."""
    target = Path(target)
    res = ExportResult(target)
    _check_target(target, suffix)
    with _staging(target) as staging:
        for e in _exportable(entries, res, ticker, index):
            try:
                data, positive = make(e)
            except _Skip as skip:
                res.skipped[e.image_id] = str(skip)
                continue
            path = staging / f"{e.image_id}{suffix}"
            try:
                path.write_bytes(data)
            except OSError as exc:
                raise ExportError(f"{target / path.name}: cannot write: {exc.strerror or exc}; the previous "
                                  "export was left as it was") from None
            res.count(positive)
            res.files += 1
    return res


def _check_target(target: Path, suffix: str) -> None:
    """Refuse a target folder that holds anything but a previous export of this kind (it is replaced whole)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ExportError(f"{target}: exists and is not a folder")
    if (target / EXPORT_MARKER).is_file():
        return
    strangers = [p.name for p in target.iterdir() if p.suffix.lower() != suffix]
    if strangers:
        raise ExportError(f"{target}: holds other files ({printable(strangers[0])}, …); choose an empty folder or "
                          "a previous export folder")


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target`; on success it becomes `target` (the old one is removed only then)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        os.chmod(staging, 0o777 & ~UMASK)  # mkdtemp makes it owner-only; an export gets the user's usual mode
        yield staging
        (staging / EXPORT_MARKER).write_text("Written by PneumoViewer; the folder index skips this folder.\n",
                                             encoding="utf-8")
        if hasattr(os, "sync"):
            os.sync()  # every file on disk before the swap (one call, not one fsync per file)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class _Skip(Exception):
    """This image cannot be exported (the message says why); the export goes on with the others."""


class _SegMaker:
    """Builds one SEG per entry after checking that its source is still the image the reviewer saw."""

    def __init__(self, index: FolderIndex, options: DeidOptions) -> None:
        self.index, self.options = index, options

    def __call__(self, entry: FinalEntry) -> tuple[bytes, bool]:
        indexed = self.index.by_id(entry.image_id)
        if indexed is None:
            raise _Skip("source DICOM not found in the folder")
        try:
            now = read_header(indexed.path)
            # the file now = what the index saw = what the store recorded with the mask (when it did)
            seen = [indexed.meta.header_digest] + ([entry.source.content_hash] if entry.source is not None else [])
            if now.image_id != entry.image_id or any(digest != now.header_digest for digest in seen):
                raise _Skip(
                    f"{indexed.path}: the file changed since the folder was indexed (it now holds "
                    f"{'another image' if now.image_id != entry.image_id else 'other header data'}); refusing to "
                    "export a mask onto it — re-open the folder and check the image"
                )
            source = read_dataset(indexed.path)
            mask = _decode(entry)
            algorithm, creator, status = _algorithm(entry), _creator(entry), _status_text(entry)
            key = repr((entry.final_rle, algorithm, creator, status, self.options))
            seg = build_seg(source, mask, algorithm=algorithm, creator=creator, status=status, options=self.options,
                            content_key=key)
        except (DicomError, SegError) as exc:
            raise _Skip(str(exc)) from None
        return dataset_bytes(seg), bool(mask.any())


def _algorithm(entry: FinalEntry) -> SegAlgorithm:
    """AUTOMATIC when the AI mask is exported unchanged, SEMIAUTOMATIC when an AI mask was corrected, MANUAL
    otherwise (drawn or imported)."""
    model = entry.ai_model
    if model is None:
        return SegAlgorithm("MANUAL")
    if entry.layer == "original" or (entry.final_is_ai and entry.status is ReviewStatus.ACCEPTED):
        return SegAlgorithm("AUTOMATIC", model.name, model.version)
    if entry.import_rows is None:
        return SegAlgorithm("SEMIAUTOMATIC", model.name, model.version)
    return SegAlgorithm("MANUAL")


def _creator(entry: FinalEntry) -> str | None:
    return None if entry.layer == "original" else entry.reviewer or None


def _status_text(entry: FinalEntry) -> str:
    if entry.layer == "original":
        return "AI result, unreviewed" if entry.status is ReviewStatus.UNREVIEWED else "AI result"
    return entry.status.value
