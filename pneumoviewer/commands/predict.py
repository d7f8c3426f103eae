"""`pneumoviewer predict DIR --out PRED.csv`: run a model bundle over a folder, write SIIM submission CSVs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "predict"
HELP = ("Run the AI on every DICOM image in a folder; write a SIIM submission-style RLE CSV (one row per image, "
        "-1 when empty) and optionally a probabilities CSV.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="folder of DICOM images (searched recursively) or one file")
    parser.add_argument("--out", required=True, type=Path, help="submission-style CSV to write (ImageId,EncodedPixels)")
    parser.add_argument("--probs", type=Path, default=None, help="also write ImageId,probability to this CSV")
    parser.add_argument("--model", type=Path, default=None,
                        help="model bundle folder (default: the bundled demo model, synthetic data only)")
    parser.add_argument("--batch", type=int, default=8, help="images per network batch (default 8)")
    parser.add_argument("--no-cache", action="store_true", help="re-read every header instead of the folder cache")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pneumoviewer.inference.bundle import BundleError
    from pneumoviewer.inference.engine import InferenceEngine
    from pneumoviewer.io.dicom import load_image
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.io.siim_csv import mask_to_rows, write_probabilities_csv, write_rle_csv

    def err(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.batch < 1:
        err("error: --batch must be at least 1")
        return 2
    engine = InferenceEngine(args.model, keep_probability_maps=False, max_batch=args.batch)
    try:
        info = engine.model_info
    except BundleError as exc:
        err(f"error: {exc}")
        return 2
    if info.synthetic:
        err(f"model {info.name} {info.version}: trained on synthetic data only, not for clinical use")
    try:
        index = scan_folder(args.folder, use_cache=not args.no_cache)
    except FileNotFoundError as exc:
        err(f"error: {exc}")
        return 2
    unreadable = [(f.path, f.reason) for f in index.failures]
    items = index.images
    if not items:
        for path, reason in unreadable:
            err(f"unreadable: {path}: {reason}")
        err(f"error: no readable DICOM image in {args.folder}")
        return 1
    try:
        engine.load()
    except BundleError as exc:
        err(f"error: {exc}")
        return 2
    err(f"model {info.name} {info.version} on {engine.device}; {len(items)} image(s)")

    rows: list[tuple[str, str]] = []
    probs: list[tuple[str, float]] = []
    with tqdm(total=len(items), desc="predict", unit="img", file=sys.stderr) as bar:
        for start in range(0, len(items), args.batch):
            chunk = items[start:start + args.batch]
            images = []
            for item in chunk:
                try:
                    images.append(load_image(item.path))
                except Exception as exc:  # DicomError and anything a broken file throws
                    unreadable.append((item.path, str(exc)))
            if images:
                for pred in engine.predict_batch(images):
                    rows += mask_to_rows(pred.image_id, pred.mask, style="submission")
                    probs.append((pred.image_id, pred.probability))
            bar.update(len(chunk))
    for path, reason in unreadable:
        err(f"unreadable: {path}: {reason}")
    if not probs:
        err("error: no image could be read")
        return 1
    write_rle_csv(args.out, rows)
    if args.probs is not None:
        write_probabilities_csv(args.probs, probs)
    n_pos = sum(1 for _, r in rows if r != "-1")
    err(f"wrote {args.out} ({len(rows)} images, {n_pos} with a mask"
        + (f"; probabilities in {args.probs}" if args.probs else "") + f"); {len(unreadable)} unreadable")
    return 0
