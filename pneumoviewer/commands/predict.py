"""`pneumoviewer predict DIR --out PRED.csv`: run a model bundle over a folder, write SIIM submission CSVs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pneumoviewer.inference.engine import InferenceEngine

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
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the images (each loads the model and gets cores / N threads); "
                             "the same images and labels as with one; floats may differ in the last bits, so a "
                             "pixel on the mask threshold can flip (default 1)")


@dataclass
class ChunkResult:
    """What one batch of files gave: CSV rows, probabilities, and the files left out with the reason."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    probs: list[tuple[str, float]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # read fine, but the ImageId cannot be written


def predict_files(engine: InferenceEngine, paths: Sequence[str]) -> ChunkResult:
    """Read, check and predict one batch of files (the same batches whatever the number of workers)."""
    from pneumoviewer.io.dicom import load_image
    from pneumoviewer.io.siim_csv import image_id_problem, mask_to_rows

    out = ChunkResult()
    images = []
    for path in paths:
        try:
            image = load_image(path)
        except Exception as exc:  # DicomError and anything a broken file throws
            out.unreadable.append((str(path), str(exc)))
            continue
        problem = image_id_problem(image.meta.image_id)
        if problem is not None:
            out.skipped.append((str(path), problem))
            continue
        images.append(image)
    if images:
        for pred in engine.predict_batch(images):
            out.rows += mask_to_rows(pred.image_id, pred.mask, style="submission")
            out.probs.append((pred.image_id, pred.probability))
    return out


_worker_engine: InferenceEngine | None = None


def _start_worker(model: Path | None, batch: int, threads: int) -> None:
    """Process-pool initializer: share the cores out (before TensorFlow starts), then load the model once."""
    global _worker_engine
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pneumoviewer.inference.engine import InferenceEngine

    _worker_engine = InferenceEngine(model, keep_probability_maps=False, max_batch=batch)
    _worker_engine.load()


def _worker_files(paths: Sequence[str]) -> ChunkResult:
    if _worker_engine is None:
        raise RuntimeError("predict worker used before its initializer loaded the model")
    return predict_files(_worker_engine, paths)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pneumoviewer.inference.bundle import BundleError, verify_files
    from pneumoviewer.inference.engine import InferenceEngine
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.io.siim_csv import write_probabilities_csv, write_rle_csv

    def err(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.batch < 1:
        err("error: --batch must be at least 1")
        return 2
    if args.workers < 1:
        err("error: --workers must be at least 1")
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
    unreadable = [(str(f.path), str(f.reason)) for f in index.failures]
    items = index.images
    if not items:
        for path, reason in unreadable:
            err(f"unreadable: {path}: {reason}")
        err(f"error: no readable DICOM image in {args.folder}")
        return 1
    batches = [[str(it.path) for it in items[i:i + args.batch]] for i in range(0, len(items), args.batch)]
    workers = min(args.workers, len(batches))
    try:
        if workers == 1:
            engine.load()
            device = engine.device
        else:  # the workers load the model; here only check what they will load
            verify_files(engine.manifest)
            missing = {"classifier", "segmenter"} - set(engine.manifest.models)
            if missing:
                raise BundleError(f"{engine.bundle_dir}: the bundle has no {' or '.join(sorted(missing))}")
            device = f"{workers} worker processes"
    except BundleError as exc:
        err(f"error: {exc}")
        return 2
    err(f"model {info.name} {info.version} on {device}; {len(items)} image(s)")

    from concurrent.futures.process import BrokenProcessPool

    result = ChunkResult(unreadable=unreadable)
    try:
        with tqdm(total=len(items), desc="predict", unit="img", file=sys.stderr) as bar:
            for part in _results(engine, batches, workers, args):
                result.rows += part.rows
                result.probs += part.probs
                result.unreadable += part.unreadable
                result.skipped += part.skipped
                bar.update(len(part.probs) + len(part.unreadable) + len(part.skipped))
    except BrokenProcessPool as exc:
        err(f"error: a predict worker process stopped ({exc}); nothing was written")
        return 1
    for path, reason in result.unreadable:
        err(f"unreadable: {path}: {reason}")
    for path, reason in result.skipped:
        err(f"skipped: {path}: {reason}")
    if not result.probs:
        err("error: no image could be read" + (" and written" if result.skipped else ""))
        return 1
    write_rle_csv(args.out, result.rows)
    if args.probs is not None:
        write_probabilities_csv(args.probs, result.probs)
    n_pos = sum(1 for _, r in result.rows if r != "-1")
    err(f"wrote {args.out} ({len(result.rows)} images, {n_pos} with a mask"
        + (f"; probabilities in {args.probs}" if args.probs else "") + f"); {len(result.unreadable)} unreadable"
        + (f", {len(result.skipped)} skipped (ImageId not writable)" if result.skipped else ""))
    return 0


def _results(
    engine: InferenceEngine, batches: list[list[str]], workers: int, args: argparse.Namespace
) -> Iterator[ChunkResult]:
    """Each batch's ChunkResult, in the folder's order (so the CSVs do not depend on ``workers``)."""
    if workers == 1:
        for paths in batches:
            yield predict_files(engine, paths)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                             initargs=(args.model, args.batch, threads)) as pool:
        yield from pool.map(_worker_files, batches)
