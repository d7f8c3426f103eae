"""Exports of the reviewer's final masks: SIIM RLE CSV, PNG masks, DICOM SEG.

Which images: every image with a final mask (accepted, corrected, negative, flagged after an edit, or imported as a
starting label); ``only_reviewed`` keeps just accepted / corrected / negative (flagged and unreviewed images are
not settled labels). Images without a final mask are never written — an unreviewed image is not a negative.

Every file is written atomically. CSV and PNG carry only the ImageId (SOPInstanceUID), never patient data.
highdicom copies the source's Patient module (name, ID, birth date, sex) into a DICOM SEG; by default
(``anonymize_patient=True``) the name and birth date are blanked and the ID replaced with the salted patient key,
because exports must carry no patient names or IDs. ``anonymize_patient=False`` (CLI ``--seg-keep-patient``)
keeps them so a SEG files with its study in a PACS — an explicit choice of the user.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumoviewer import __version__
from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.io.atomic import atomic_write, atomic_write_bytes
from pneumoviewer.io.siim_csv import mask_to_rows, write_rle_csv
from pneumoviewer.review.store import FinalEntry, ReviewStore

Progress = Callable[[int, int], None]

PNEUMOTHORAX_CODE = ("36118008", "SCT", "Pneumothorax")
SEG_SERIES_NUMBER = 9901
_SAFE_NAME = re.compile(r"^[0-9A-Za-z._-]+$")


class ExportError(RuntimeError):
    """An export that cannot be done (no source DICOM for a SEG, unsafe file name, …)."""


@dataclass
class ExportResult:
    """What an export wrote (for the CLI summary and the GUI's message)."""

    images: int = 0
    rows: int = 0
    positives: int = 0
    negatives: int = 0
    kept_import_rows: int = 0  # unedited imported images written with their original rows
    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # image_id -> reason

    def count(self, positive: bool, target: Path | None = None) -> None:
        """Tally one exported image (and the file written for it)."""
        self.images += 1
        if positive:
            self.positives += 1
        else:
            self.negatives += 1
        if target is not None:
            self.written.append(target)

    def as_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "rows": self.rows,
            "positives": self.positives,
            "negatives": self.negatives,
            "kept_import_rows": self.kept_import_rows,
            "files": len(self.written),
            "skipped": len(self.skipped),
        }


def _decode(entry: FinalEntry) -> np.ndarray:
    return rle.decode(entry.final_rle, entry.height, entry.width)


def _safe_filename(image_id: str) -> str:
    if not _SAFE_NAME.match(image_id) or image_id in (".", ".."):
        raise ExportError(f"ImageId {image_id!r} is not a safe file name")
    return image_id


# ---------------------------------------------------------------------------------------------------- CSV


def csv_rows(
    entries: Iterable[FinalEntry], style: str = "train", result: ExportResult | None = None
) -> list[tuple[str, str]]:
    """SIIM rows for the entries: ``train`` = one row per 8-connected component (``-1`` for a negative),
    ``submission`` = one merged row per image. An unedited imported image keeps the rows it came with (train
    style), so import → export without edits reproduces the file's rows exactly."""
    if style not in ("train", "submission"):
        raise ValueError(f"style must be 'train' or 'submission', got {style!r}")
    res = result if result is not None else ExportResult()
    out: list[tuple[str, str]] = []
    for e in entries:
        if style == "train" and e.import_rows is not None:
            rows = [(e.image_id, r) for r in e.import_rows]
            res.kept_import_rows += 1
        elif style == "submission":
            rows = [(e.image_id, e.final_rle)]  # the stored union RLE is exactly the merged row
        else:
            rows = mask_to_rows(e.image_id, _decode(e), style="train")
        out.extend(rows)
        res.count(positive=not all(r == rle.EMPTY for _, r in rows))
    res.rows = len(out)
    return out


def export_csv(
    store: ReviewStore,
    path: str | os.PathLike[str],
    *,
    style: str = "train",
    only_reviewed: bool = False,
    layer: str = "final",
) -> ExportResult:
    """Write the final masks (or, ``layer="original"``, the AI masks) as a SIIM CSV (atomic): what
    `pneumoviewer train` reads and `pneumoviewer evaluate` scores."""
    res = ExportResult()
    rows = csv_rows(store.final_entries(only_reviewed=only_reviewed, layer=layer), style, res)
    write_rle_csv(path, rows)
    res.written.append(Path(path))
    return res


# ---------------------------------------------------------------------------------------------------- PNG


def mask_png_bytes(mask: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG, 0 = background, 255 = pneumothorax, at the image's own size."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8), mode="L").save(buf, "PNG")
    return buf.getvalue()


def export_png(
    store: ReviewStore,
    out_dir: str | os.PathLike[str],
    *,
    only_reviewed: bool = False,
    layer: str = "final",
    progress: Progress | None = None,
) -> ExportResult:
    """One ``<ImageId>.png`` per image with a final (or AI) mask (0/255), each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = ExportResult()
    entries = store.final_entries(only_reviewed=only_reviewed, layer=layer)
    for i, e in enumerate(entries, start=1):
        mask = _decode(e)
        target = out / f"{_safe_filename(e.image_id)}.png"
        atomic_write_bytes(target, mask_png_bytes(mask))
        res.count(bool(mask.any()), target)
        if progress is not None:
            progress(i, len(entries))
    return res


# ---------------------------------------------------------------------------------------------------- DICOM SEG


def build_seg(
    source: object,
    mask: np.ndarray,
    *,
    entry: FinalEntry | None = None,
    anonymize_patient: bool = True,
    patient_key: str | None = None,
) -> object:
    """A binary DICOM SEG (highdicom) of `mask` referencing the `source` dataset.

    The segment is coded SNOMED CT 36118008 "Pneumothorax". The algorithm is recorded: AUTOMATIC with the model's
    name/version when the reviewer accepted the AI mask unchanged, SEMIAUTOMATIC when an AI mask was corrected,
    MANUAL otherwise; the reviewer is the content creator. Pixel measures always carry a slice thickness (CR/DX
    sources have none, and highdicom's reader fails without it).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.valuerep import PersonName

    ds = source
    rows, cols = int(ds.Rows), int(ds.Columns)  # type: ignore[attr-defined]
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (rows, cols):
        raise ExportError(f"mask is {mask.shape[0]}x{mask.shape[1]} but the source image is {rows}x{cols}")
    model = entry.ai_model if entry is not None else None
    from_ai = entry is not None and model is not None
    if from_ai and (entry.layer == "original" or (entry.final_is_ai and entry.status is ReviewStatus.ACCEPTED)):
        algo_type = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    elif from_ai and entry.import_rows is None:
        algo_type = hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC
    else:
        algo_type = hd.seg.SegmentAlgorithmTypeValues.MANUAL
    algo_id = None
    if algo_type is not hd.seg.SegmentAlgorithmTypeValues.MANUAL and model is not None:
        algo_id = hd.AlgorithmIdentificationSequence(
            name=model.name or "unknown model",
            version=model.version or "unknown",
            family=codes.cid7162.ArtificialIntelligence,
            source="PneumoViewer",
        )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Pneumothorax",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=hd.sr.CodedConcept(*PNEUMOTHORAX_CODE),
        algorithm_type=algo_type,
        algorithm_identification=algo_id,
    )
    spacing = _pixel_spacing(ds)
    measures = hd.PixelMeasuresSequence(pixel_spacing=spacing, slice_thickness=1.0)
    reviewer = entry.reviewer if entry is not None and entry.reviewer else None
    creator = PersonName.from_named_components(family_name=reviewer) if reviewer else None
    status = entry.status.value if entry is not None else "exported"
    if entry is not None and entry.layer == "original":
        status = "AI result, unreviewed" if entry.status is ReviewStatus.UNREVIEWED else "AI result"
        creator = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # highdicom nags about single-component names in the source
        seg = hd.seg.Segmentation(
            source_images=[ds],
            pixel_array=mask.astype(np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=hd.UID(),
            series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="PneumoViewer",
            manufacturer_model_name="PneumoViewer",
            software_versions=__version__,
            device_serial_number="0",
            content_description=f"Pneumothorax mask ({status}); not for diagnosis",
            content_label="PNEUMOTHORAX",
            content_creator_name=creator,
            pixel_measures=measures,
            omit_empty_frames=False,  # a negative exports as an empty segment, i.e. "reviewed: none"
        )
    if anonymize_patient:
        seg.PatientName = "Anonymous"
        seg.PatientID = patient_key or "ANONYMOUS"
        seg.PatientBirthDate = ""
    return seg


def _pixel_spacing(ds: object) -> list[float]:
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        value = getattr(ds, kw, None)
        if value is not None and len(value) == 2 and all(float(v) > 0 for v in value):
            return [float(value[0]), float(value[1])]
    return [1.0, 1.0]  # no spacing in the source: declare 1 mm so readers get a valid geometry


def export_seg(
    store: ReviewStore,
    out_dir: str | os.PathLike[str],
    sources: Mapping[str, Path],
    *,
    only_reviewed: bool = False,
    anonymize_patient: bool = True,
    patient_keys: Mapping[str, str | None] | None = None,
    layer: str = "final",
    progress: Progress | None = None,
) -> ExportResult:
    """One ``<ImageId>.dcm`` SEG per image with a final mask whose source DICOM is in `sources` (id → path).

    Images whose source is not found are skipped and listed in the result (a SEG must reference its source).
    """
    from pneumoviewer.io.dicom import read_dataset  # the app's reader: a bad source is a DicomError naming it

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = ExportResult()
    entries = store.final_entries(only_reviewed=only_reviewed, layer=layer)
    for i, e in enumerate(entries, start=1):
        src_path = sources.get(e.image_id)
        if src_path is None:
            res.skipped[e.image_id] = "source DICOM not found in the folder"
        else:
            ds = read_dataset(src_path)
            mask = _decode(e)
            key = (patient_keys or {}).get(e.image_id)
            seg = build_seg(ds, mask, entry=e, anonymize_patient=anonymize_patient, patient_key=key)
            target = out / f"{_safe_filename(e.image_id)}.dcm"
            with atomic_write(target, "wb") as fh:
                seg.save_as(fh, enforce_file_format=True)  # type: ignore[attr-defined]
            res.count(bool(mask.any()), target)
        if progress is not None:
            progress(i, len(entries))
    return res


def read_seg_mask(path: str | os.PathLike[str]) -> tuple[str, np.ndarray]:
    """(referenced source SOPInstanceUID, mask) of a one-segment SEG written by :func:`export_seg`."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    src = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    arr = seg.get_pixels_by_source_instance(source_sop_instance_uids=[src], segment_numbers=[1])
    return str(src), np.asarray(arr[0, :, :, 0]).astype(bool)
