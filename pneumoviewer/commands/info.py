"""`pneumoviewer info FILE_OR_FOLDER [--json]`: a file's header facts, or a folder's index summary.

Never prints patient names or IDs (ImageMeta does not hold them; `patient_key` is left out too). Every value taken
from a file (header values, paths, failure reasons) passes `core.text.printable`: an escape sequence or a newline in
a header is shown as an escape, never sent to the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pneumoviewer.core.text import printable

NAME = "info"
HELP = "Show a DICOM file's metadata, or a summary of a folder of DICOM files (no patient names or IDs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="FILE_OR_FOLDER", help="a DICOM file or a folder to index (recursively)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--no-cache", action="store_true", help="re-read every header (ignore the index cache)")
    parser.add_argument("--frame", type=int, default=None, help="also decode this frame and report its display window")


def run(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.exists():
        print(f"pneumoviewer info: {printable(str(path))}: no such file or folder", file=sys.stderr)
        return 2
    if path.is_dir():
        return _folder(path, args)
    return _file(path, args)


def file_report(path: Path, frame: int | None = None) -> dict[str, Any]:
    """The metadata of one file as a plain dict (raises DicomError for a bad file)."""
    from pydicom.uid import UID

    from pneumoviewer.io.dicom import load_image, read_header

    meta = read_header(path)
    report: dict[str, Any] = {
        "path": str(path),
        "image_id": meta.image_id,
        "study_uid": meta.study_uid,
        "series_uid": meta.series_uid,
        "patient_age": meta.patient_age,
        "patient_sex": meta.patient_sex,
        "view_position": meta.view_position,
        "modality": meta.modality,
        "body_part": meta.body_part,
        "rows": meta.rows,
        "columns": meta.columns,
        "bits_stored": meta.bits_stored,
        "photometric": meta.photometric,
        "pixel_spacing": list(meta.pixel_spacing) if meta.pixel_spacing else None,
        "transfer_syntax": meta.transfer_syntax,
        "transfer_syntax_name": UID(meta.transfer_syntax).name if meta.transfer_syntax else None,
        "n_frames": meta.n_frames,
        "file_size": path.stat().st_size,
    }
    if frame is not None:
        image = load_image(path, frame)
        report["display"] = {
            "frame": frame,
            "window_center": round(image.window[0], 3),
            "window_width": round(image.window[1], 3),
            "window_source": image.window_source,
            "invert": image.invert,
            "voi_function": image.voi_function,
            "stored_dtype": str(image.pixels.dtype),
            "stored_range": [float(image.pixels.min()), float(image.pixels.max())],
        }
    return report


def _file(path: Path, args: argparse.Namespace) -> int:
    from pneumoviewer.io.dicom import DicomError

    try:
        report = file_report(path, args.frame)
    except DicomError as exc:
        if args.json:
            print(json.dumps({"path": str(path), "error": exc.reason}))
        print(f"pneumoviewer info: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    labels = {
        "image_id": "Image (SOPInstanceUID)",
        "study_uid": "Study UID",
        "series_uid": "Series UID",
        "patient_age": "Age (years)",
        "patient_sex": "Sex",
        "view_position": "View",
        "modality": "Modality",
        "body_part": "Body part",
        "photometric": "Photometric",
        "bits_stored": "Bits stored",
        "n_frames": "Frames",
        "transfer_syntax_name": "Transfer syntax",
        "file_size": "File size (bytes)",
    }
    print(printable(str(path)))
    print(f"  {'Size (columns x rows)':24s} {report['columns']} x {report['rows']}")
    spacing = report["pixel_spacing"]
    print(f"  {'Pixel spacing (mm)':24s} {f'{spacing[0]:g} x {spacing[1]:g}' if spacing else '-'}")
    for key, label in labels.items():
        value = report[key]
        print(f"  {label:24s} {'-' if value is None else printable(str(value))}")
    display = report.get("display")
    if display:
        print(f"  {'Display window (C/W)':24s} {display['window_center']:g} / {display['window_width']:g} "
              f"({display['window_source']}{', inverted' if display['invert'] else ''})")
    return 0


def _folder(path: Path, args: argparse.Namespace) -> int:
    from pneumoviewer.io.folder import scan_folder

    bar = _progress_bar(path)
    try:
        index = scan_folder(path, progress=bar.update if bar else None, use_cache=not args.no_cache)
    finally:
        if bar:
            bar.close()
    summary = index.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    if not index.images and index.failures:
        print(f"pneumoviewer info: {printable(str(path))}: no readable DICOM images", file=sys.stderr)
        return 1
    return 0


class _Bar:
    """tqdm on stderr, fed absolute (done, total) counts; silent when stderr is not a terminal."""

    def __init__(self, path: Path) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm(total=0, unit="file", desc=f"indexing {path.name or path}", file=sys.stderr,
                          disable=not sys.stderr.isatty(), leave=False)

    def update(self, done: int, total: int) -> None:
        if self._tqdm.total != total:
            self._tqdm.total = total
        self._tqdm.n = done
        self._tqdm.refresh()

    def close(self) -> None:
        self._tqdm.close()


def _progress_bar(path: Path) -> _Bar | None:
    try:
        return _Bar(path)
    except ImportError:
        return None


def _print_summary(s: dict[str, Any]) -> None:
    def dist(d: dict[str, int]) -> str:
        return ", ".join(f"{printable(k)} {v}" for k, v in d.items()) or "-"

    ages = s["age_range"]
    print(printable(s["root"]))
    print(f"  {'Images':20s} {s['images']} ({s['frames']} frames) in {s['studies']} studies, {s['series']} series")
    print(f"  {'Views':20s} {dist(s['views'])}")
    print(f"  {'Sex':20s} {dist(s['sexes'])}")
    age_text = f"{ages[0]}–{ages[1]}, median {s['age_median']}" if ages else "-"
    print(f"  {'Age (years)':20s} {age_text}")
    print(f"  {'Modality':20s} {dist(s['modalities'])}")
    print(f"  {'Size (cols x rows)':20s} {dist(s['sizes'])}")
    print(f"  {'Bits stored':20s} {dist(s['bits_stored'])}")
    print(f"  {'Photometric':20s} {dist(s['photometric'])}")
    print(f"  {'Transfer syntax':20s} {dist(s['transfer_syntaxes'])}")
    print(f"  {'Ignored (not DICOM)':20s} {s['ignored']}")
    cached = f", {s['from_cache']} from cache" if s["from_cache"] else ""
    print(f"  {'Scan':20s} {s['elapsed_s']:.2f} s{cached}")
    print(f"  {'Failures':20s} {s['failures']}")
    for failure in s["failure_reasons"][:50]:
        print(f"    {printable(failure['path'])}: {printable(failure['reason'])}")
    if s["failures"] > 50:
        print(f"    ... and {s['failures'] - 50} more (use --json for all)")
