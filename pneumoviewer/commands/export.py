"""`pneumoviewer export FOLDER --csv OUT.csv [--style train|submission] [--only-reviewed] [--png DIR] [--seg DIR]`.

Writes the reviewer's final masks of an opened folder (its review store) as a SIIM RLE CSV — the file
`pneumoviewer train` reads — and/or PNG masks and DICOM SEG objects. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NAME = "export"
HELP = "Export reviewed masks of a folder as SIIM CSV, PNG masks and/or DICOM SEG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="FOLDER", help="the image folder whose review store to export")
    parser.add_argument("--csv", metavar="OUT.csv", help="write a SIIM RLE CSV (ImageId,EncodedPixels)")
    parser.add_argument(
        "--style",
        choices=("train", "submission"),
        default="train",
        help="train: one row per connected component, -1 for negatives (default); submission: one row per image",
    )
    parser.add_argument(
        "--only-reviewed",
        action="store_true",
        help="only accepted, corrected and negative images (skip flagged and imported-but-unreviewed ones)",
    )
    parser.add_argument(
        "--layer",
        choices=("final", "original"),
        default="final",
        help="final: the reviewer's masks (default); original: the AI masks (e.g. to score them against the "
        "reviewed CSV with `pneumoviewer evaluate`)",
    )
    parser.add_argument("--png", metavar="DIR", help="write <ImageId>.png masks (0 = background, 255 = mask)")
    parser.add_argument("--seg", metavar="DIR", help="write <ImageId>.dcm DICOM SEG objects referencing the source")
    parser.add_argument(
        "--seg-keep-patient",
        action="store_true",
        help="copy the source's patient name and ID into each SEG so it files with its study in a PACS "
        "(by default they are replaced by a pseudonym: exports carry no patient names or IDs)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def _bar(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=total < 2 or not sys.stderr.isatty())


def run(args: argparse.Namespace) -> int:
    from pneumoviewer.review.export import ExportError, export_csv, export_png, export_seg
    from pneumoviewer.review.store import ReviewStore, existing_store_path

    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        print(f"pneumoviewer export: {folder}: not a folder", file=sys.stderr)
        return 2
    if not (args.csv or args.png or args.seg):
        print("pneumoviewer export: nothing to do; give --csv, --png and/or --seg", file=sys.stderr)
        return 2
    if existing_store_path(folder) is None:
        print(
            f"pneumoviewer export: {folder}: no review store yet (open the folder in the app, or "
            "`pneumoviewer import` a CSV first)",
            file=sys.stderr,
        )
        return 2
    summary: dict[str, Any] = {}
    try:
        with ReviewStore.open(folder, read_only=True) as store:  # exporting never changes the store
            entries = 0  # progress-bar length, shared by the PNG and SEG bars
            if args.png or args.seg:
                entries = len(store.final_entries(only_reviewed=args.only_reviewed, layer=args.layer))
            if args.csv:
                res = export_csv(store, args.csv, style=args.style, only_reviewed=args.only_reviewed, layer=args.layer)
                summary["csv"] = {"path": str(args.csv), **res.as_dict()}
            if args.png:
                with _bar(entries, "PNG") as bar:
                    res = export_png(
                        store, args.png, only_reviewed=args.only_reviewed, layer=args.layer, progress=_step(bar)
                    )
                summary["png"] = {"dir": str(args.png), **res.as_dict()}
            if args.seg:
                sources, keys = _sources(folder)
                with _bar(entries, "SEG") as bar:
                    res = export_seg(
                        store,
                        args.seg,
                        sources,
                        only_reviewed=args.only_reviewed,
                        anonymize_patient=not args.seg_keep_patient,
                        patient_keys=keys,
                        layer=args.layer,
                        progress=_step(bar),
                    )
                summary["seg"] = {"dir": str(args.seg), **res.as_dict()}
                for image_id, reason in res.skipped.items():
                    print(f"pneumoviewer export: SEG skipped for {image_id}: {reason}", file=sys.stderr)
    except (ExportError, OSError, ValueError) as exc:
        print(f"pneumoviewer export: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for kind, info in summary.items():
            where = info.get("path") or info.get("dir")
            line = f"{kind}: {info['images']} image(s) ({info['positives']} positive, {info['negatives']} negative)"
            if kind == "csv":
                line += f", {info['rows']} row(s)"
            print(f"{line} → {where}")
    return 0


def _step(bar: Any) -> Any:
    def progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    return progress


def _sources(folder: Path) -> tuple[dict[str, Path], dict[str, str | None]]:
    """ImageId → source DICOM path (and patient pseudonym) from the folder index (cached after the first scan)."""
    from pneumoviewer.io.folder import scan_folder

    index = scan_folder(folder)
    return (
        {img.image_id: img.path for img in index.images},
        {img.image_id: img.meta.patient_key for img in index.images},
    )
