"""`pneumoviewer demo-data OUT --n N --seed S`: write a synthetic SIIM-layout dataset (phantom radiographs).

The images are SYNTHETIC (see `pneumoviewer.phantom`): for demos, tests and smoke-training, never for clinical use.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAME = "demo-data"
HELP = "Write N synthetic chest radiographs (SIIM layout: DICOMs + train-rle.csv) for demos and quick training"


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"positive rate must be a number, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"positive rate must be in [0, 1], got {v}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def _image_size(text: str) -> int:
    v = _count(text)
    if v < 32:
        raise argparse.ArgumentTypeError("size must be at least 32")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--n", type=_count, default=100, help="number of images (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same files (default 0)")
    parser.add_argument("--size", type=_image_size, default=1024, help="image width and height (default 1024, as SIIM)")
    parser.add_argument(
        "--positive",
        type=_rate,
        default=0.22,
        metavar="RATE",
        help="fraction with pneumothorax (default 0.22, as SIIM)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier dataset in OUT (its dicom-images-train and train-rle.csv)",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pneumoviewer.phantom import generate_dataset

    out: Path = args.out.expanduser()
    if out.exists() and not out.is_dir():
        print(f"pneumoviewer demo-data: {out}: exists and is not a folder", file=sys.stderr)
        return 2
    dicom_dir, csv_path = out / "dicom-images-train", out / "train-rle.csv"
    earlier = csv_path.exists() or (dicom_dir.is_dir() and any(dicom_dir.iterdir()))
    if earlier and not args.force:
        print(
            f"pneumoviewer demo-data: {out} already holds a dataset (dicom-images-train, train-rle.csv); "
            "use --force to replace it or choose another folder",
            file=sys.stderr,
        )
        return 2
    if earlier:
        import shutil

        shutil.rmtree(dicom_dir, ignore_errors=True)
        csv_path.unlink(missing_ok=True)
    started = time.perf_counter()
    with tqdm(total=args.n, desc="phantoms", unit="img", file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            ds = generate_dataset(
                out, args.n, seed=args.seed, size=args.size, positive_rate=args.positive, progress=progress
            )
        except OSError as exc:
            print(f"pneumoviewer demo-data: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    elapsed = time.perf_counter() - started
    n_pos = len(ds.positive_ids)
    print(
        f"wrote {len(ds.image_ids)} synthetic DICOMs ({n_pos} with pneumothorax, {args.size}x{args.size}, "
        f"seed {args.seed}) in {elapsed:.1f} s"
    )
    print(f"  images: {ds.dicom_dir}")
    print(f"  masks:  {ds.csv_path}")
    print("SYNTHETIC phantom data: not real patients, not for clinical use.")
    return 0
