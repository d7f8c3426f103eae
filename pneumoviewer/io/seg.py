"""The DICOM SEG codec: one binary pneumothorax segment referencing its source image (highdicom).

`build_seg` copies from the source only what `io.dicom.deidentify.export_source` lets through (the PS3.15 Basic
profile with the Retain UIDs and Retain Patient Characteristics options), so a SEG carries no patient identifiers
unless the caller asks for them. Every SEG written here passes the DICOM validator ``dciodvfy`` with no errors
(tests run it where it is installed).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pneumoviewer import __version__
from pneumoviewer.io.dicom.deidentify import PROFILE, DeidOptions, export_source, mark_deidentified

PNEUMOTHORAX_CODE = ("36118008", "SCT", "Pneumothorax")
SEG_SERIES_NUMBER = 9901
MANUFACTURER = "PneumoViewer"


class SegError(ValueError):
    """A SEG that cannot be made for this source (e.g. the mask does not have the image's size)."""


@dataclass(frozen=True)
class SegAlgorithm:
    """How the mask was made: AUTOMATIC (the model's mask unchanged), SEMIAUTOMATIC (corrected) or MANUAL."""

    kind: str = "MANUAL"
    model_name: str | None = None
    model_version: str | None = None


def build_seg(
    source: Dataset,
    mask: np.ndarray,
    *,
    algorithm: SegAlgorithm = SegAlgorithm(),
    creator: str | None = None,
    status: str = "exported",
    options: DeidOptions = PROFILE,
    content_key: str = "",
) -> Dataset:
    """A binary DICOM SEG of `mask` referencing `source`, coded SNOMED CT 36118008 "Pneumothorax".

    The algorithm (and the model's name/version unless MANUAL) and the reviewer (`creator`, the content creator)
    are recorded. Pixel measures always carry a slice thickness (CR/DX sources have none, and highdicom's reader
    fails without it). A negative exports as an empty segment ("reviewed: none"). Raises SegError when the mask
    does not match the source's Rows × Columns.

    The SEG's Series and SOP Instance UIDs derive from the source's UIDs and `content_key` (what the mask is), so
    exporting the same mask again, from the CLI or the GUI, gives the same UIDs (a PACS sees one object, not a
    duplicate); only the moments it was made (InstanceCreation, Content and ContributionDateTime) differ.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.valuerep import PersonName

    rows, cols = int(source.Rows), int(source.Columns)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (rows, cols):
        raise SegError(f"the mask is {mask.shape[0]}x{mask.shape[1]} but the source image is {rows}x{cols} "
                       "(was the image re-saved at another size?)")
    src = export_source(source, options)
    kind = hd.seg.SegmentAlgorithmTypeValues[algorithm.kind]
    algo_id = None
    if kind is not hd.seg.SegmentAlgorithmTypeValues.MANUAL:
        algo_id = hd.AlgorithmIdentificationSequence(
            name=algorithm.model_name or "unknown model",
            version=algorithm.model_version or "unknown",
            family=codes.cid7162.ArtificialIntelligence,
            source=MANUFACTURER,
        )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Pneumothorax",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=hd.sr.CodedConcept(*PNEUMOTHORAX_CODE),
        algorithm_type=kind,
        algorithm_identification=algo_id,
    )
    measures = hd.PixelMeasuresSequence(pixel_spacing=_pixel_spacing(src), slice_thickness=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # highdicom nags about empty names copied from the source
        seg = hd.seg.Segmentation(
            source_images=[src],
            pixel_array=mask.astype(np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=generate_uid(entropy_srcs=["pneumoviewer-seg-series", str(src.SeriesInstanceUID)]),
            series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=generate_uid(entropy_srcs=["pneumoviewer-seg", str(src.SOPInstanceUID), content_key]),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=MANUFACTURER,
            software_versions=__version__,
            device_serial_number="0",
            content_description=f"Pneumothorax mask ({status}); not for diagnosis",
            content_label="PNEUMOTHORAX",
            content_creator_name=PersonName.from_named_components(family_name=creator) if creator else None,
            pixel_measures=measures,
            omit_empty_frames=False,
        )
    seg.PatientOrientation = src.get("PatientOrientation", "") or ""  # Type 2C: projection images need it
    dimension_uid = generate_uid(entropy_srcs=["pneumoviewer-seg-dimensions", str(seg.SOPInstanceUID)])
    for item in (*seg.DimensionOrganizationSequence, *seg.DimensionIndexSequence):
        item.DimensionOrganizationUID = dimension_uid  # highdicom draws a random one
    mark_deidentified(seg, options)
    return seg


def _pixel_spacing(ds: Dataset) -> list[float]:
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(kw)
        try:
            if value is not None and len(value) == 2 and all(float(v) > 0 for v in value):
                return [float(value[0]), float(value[1])]
        except (TypeError, ValueError):
            continue
    return [1.0, 1.0]  # no spacing in the source: declare 1 mm so readers get a valid geometry


def read_seg_mask(path: str | os.PathLike[str]) -> tuple[str, np.ndarray]:
    """(referenced source SOPInstanceUID, mask) of a one-segment SEG written by :func:`build_seg`."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    src = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    arr = seg.get_pixels_by_source_instance(source_sop_instance_uids=[src], segment_numbers=[1])
    return str(src), np.asarray(arr[0, :, :, 0]).astype(bool)
