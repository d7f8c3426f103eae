"""`pneumoviewer export FOLDER --csv OUT.csv [--style train|submission] [--only-reviewed] [--png DIR] [--seg DIR]`.

Writes the reviewer's final masks of an opened folder (its review store) as a SIIM RLE CSV — the file
`pneumoviewer train` reads — and/or PNG masks and DICOM SEG objects, through the same `review.export.export` as
the app's File ▸ Export (byte-identical files). Every part is written atomically; an image that cannot be exported
is skipped and named on stderr (exit status 1), the rest is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
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
    parser.add_argument(
        "--ai-model",
        metavar="SHA256",
        help="with --layer original: the AI masks of this model (its bundle sha256, or 6+ leading hex digits; "
        "default: the folder's current model in the app, else each image's newest result); the model is named in "
        "the summary",
    )
    parser.add_argument("--png", metavar="DIR", help="write <ImageId>.png masks (0 = background, 255 = mask)")
    parser.add_argument("--seg", metavar="DIR", help="write <ImageId>.dcm DICOM SEG objects referencing the source")
    parser.add_argument(
        "--seg-keep-patient",
        action="store_true",
        help="copy the source's patient name, ID and birth date and the study's date, accession number and ID into "
        "each SEG so it files with its study in a PACS (by default the DICOM PS3.15 Basic confidentiality profile "
        "empties them: exports carry no patient identifiers)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pneumoviewer.core.text import printable
    from pneumoviewer.io.dicom.deidentify import PROFILE, DeidOptions
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.review.agreement import ai_models_used, model_line
    from pneumoviewer.review.export import ExportError, ExportPlan, export
    from pneumoviewer.review.store import ReviewStore, existing_store_path

    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        print(f"pneumoviewer export: {printable(str(folder))}: not a folder", file=sys.stderr)
        return 2
    if not (args.csv or args.png or args.seg):
        print("pneumoviewer export: nothing to do; give --csv, --png and/or --seg", file=sys.stderr)
        return 2
    if existing_store_path(folder) is None:
        print(
            f"pneumoviewer export: {printable(str(folder))}: no review store yet (open the folder in the app, or "
            "`pneumoviewer import` a CSV first)",
            file=sys.stderr,
        )
        return 2
    if args.ai_model is not None and args.layer != "original":
        print("pneumoviewer export: --ai-model chooses whose AI masks to export; it needs --layer original",
              file=sys.stderr)
        return 2
    plan = ExportPlan(
        csv=Path(args.csv) if args.csv else None,
        style=args.style,
        png=Path(args.png) if args.png else None,
        seg=Path(args.seg) if args.seg else None,
        only_reviewed=args.only_reviewed,
        layer=args.layer,
        deid=DeidOptions(keep_patient=True) if args.seg_keep_patient else PROFILE,
    )
    try:
        index = scan_folder(folder)  # cached: cheap; every part checks each image's file against its mask
        with ReviewStore.open(folder, read_only=True) as store, tqdm(  # exporting never changes the store
            unit="img", file=sys.stderr, desc="export", disable=not sys.stderr.isatty(), leave=False
        ) as bar:
            if args.ai_model is not None:
                plan = replace(plan, model_sha256=store.resolve_ai_model(args.ai_model))
            models = ai_models_used(store, plan.model_sha256) if plan.layer == "original" else None
            results = export(store, plan, index, progress=_step(bar))
    except (ExportError, OSError, ValueError) as exc:
        print(f"pneumoviewer export: {printable(str(exc))}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = {kind: res.as_dict() for kind, res in results.items()}
    skipped = 0
    for kind, res in results.items():
        for image_id, reason in res.skipped.items():
            skipped += 1
            print(f"pneumoviewer export: {kind.upper()} skipped {printable(image_id)}: {printable(reason)}",
                  file=sys.stderr)
    if args.json:
        print(json.dumps(summary | ({"ai_models": models} if models is not None else {}), indent=2))
    else:
        for m in models if models is not None else ():
            print(f"AI masks of: {model_line(m)}")
        for kind, info in summary.items():
            line = f"{kind}: {info['images']} image(s) ({info['positives']} positive, {info['negatives']} negative)"
            if kind == "csv":
                line += f", {info['rows']} row(s)"
            print(f"{line} → {info['path']}")
    return 1 if skipped else 0


def _step(bar: Any) -> Any:
    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total)
        bar.n = done
        bar.refresh()

    return progress
