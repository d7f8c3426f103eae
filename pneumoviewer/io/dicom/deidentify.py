"""The DICOM PS3.15 Basic Application Level Confidentiality Profile, applied to what an export copies from a source.

An exported object (a DICOM SEG) needs a few facts of its source image: its identity (UIDs), its geometry, and the
Patient and Study modules a PACS expects. `export_source` builds that subset as a new dataset and applies the
profile (PS3.15 E.1, Table E.1-1) to it; nothing outside the subset ever reaches the export, so every other
attribute of the source (descriptions, comments, institution, operators, private tags, ...) is removed (action X).

Options (PS3.15 E.3), chosen because a SEG is only useful when it references its image:

- **Retain UIDs Option** (E.3.9): Study, Series, SOP Instance and Frame of Reference UIDs are kept, so the SEG
  references its source image and files next to it.
- **Retain Patient Characteristics Option** (E.3.8), for sex and age only: PatientSex (M/F/O, else empty) and
  PatientAge normalised to the AS form ``038Y`` (an age the source wrote as ``38`` or ``38 years``; an age over 89
  is written as ``090Y``, as HIPAA Safe Harbor asks; an age that cannot be read is left empty).
- Everything else the profile lists is replaced by an empty value (action Z: PatientName, PatientID,
  PatientBirthDate, StudyDate, StudyTime, AccessionNumber, ReferringPhysicianName, StudyID) or removed (X).

The export records what was done: PatientIdentityRemoved ``YES``, DeidentificationMethod and its code sequence
(113100 Basic profile, 113108 Retain Patient Characteristics, 113110 Retain UIDs).

``keep_patient=True`` (CLI ``--seg-keep-patient``) is the user's explicit choice to file a SEG with its study in a
PACS: the patient's name, ID and birth date and the study's date, time, accession number, referring physician and
ID are then copied, PatientIdentityRemoved is ``NO``, and the profile is not claimed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from pneumoviewer.io.dicom.header import parse_age, parse_sex

#: Identity and geometry a SEG needs from its source (kept: Retain UIDs Option; geometry is not identifying).
KEPT: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "PatientOrientation",
    "SliceThickness",
)

#: Emptied (action Z) unless `keep_patient`: Type 2 attributes of the Patient and General Study modules.
EMPTIED: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)

#: PS3.16 CID 7050 codes for what was done.
_BASIC = ("113100", "Basic Application Confidentiality Profile")
_RETAIN_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")
_RETAIN_UIDS = ("113110", "Retain UIDs Option")
METHOD = "DICOM PS3.15 Basic Profile, Retain UIDs, Retain Patient Chars"  # LO: at most 64

_AGE_MAX = 90


@dataclass(frozen=True)
class DeidOptions:
    """How an export treats the source's identity; the defaults apply the profile (module docstring)."""

    keep_patient: bool = False  # copy name, ID, birth date and study identity (the user's explicit choice)


#: The profile as the module docstring describes it: what every export uses unless the user chose otherwise.
PROFILE = DeidOptions()


def normalised_age(value: object) -> str:
    """PatientAge in the AS form ``NNNU`` (``38`` → ``038Y``, ``006M`` kept); ages over 89 → ``090Y``; '' when
    the value cannot be read."""
    text = str(value or "").strip().upper()
    match = re.fullmatch(r"(\d{1,3})\s*([DWMY]?)", text)
    if not match:
        return ""
    n, unit = int(match.group(1)), match.group(2) or "Y"
    years = parse_age(f"{n}{unit}")
    if years is None:
        return ""
    if years >= _AGE_MAX:
        return f"{_AGE_MAX:03d}Y"
    return f"{n:03d}{unit}"


def export_source(source: Dataset, options: DeidOptions = PROFILE) -> Dataset:
    """The subset of `source` an export may copy, with the confidentiality profile applied (a new dataset; the
    source is not changed). Pixel data is not copied."""
    out = Dataset()
    out.file_meta = FileMetaDataset()  # not the source's: its application entity title and the like stay behind
    transfer = getattr(source, "file_meta", FileMetaDataset()).get("TransferSyntaxUID")
    if transfer is not None:
        out.file_meta.TransferSyntaxUID = transfer
    for keyword in KEPT:
        if keyword in source:
            out[keyword] = source[keyword]
    out.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: what we write ourselves
    for keyword in EMPTIED:
        value = source.get(keyword, "") if options.keep_patient else ""
        setattr(out, keyword, str(value or ""))
    out.PatientSex = parse_sex(source.get("PatientSex")) or ""
    age = normalised_age(source.get("PatientAge"))
    if age:
        out.PatientAge = age
    out.set_original_encoding(*source.original_encoding)
    return out


def mark_deidentified(ds: Dataset, options: DeidOptions = PROFILE) -> None:
    """Record on the exported object what was done to its patient data (PatientIdentityRemoved and method)."""
    if options.keep_patient:
        ds.PatientIdentityRemoved = "NO"
        return
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    items = []
    for value, meaning in (_BASIC, _RETAIN_UIDS, _RETAIN_CHARACTERISTICS):
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
