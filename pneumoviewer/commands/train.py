"""`pneumoviewer train classifier|segmenter`: train one model of a bundle from a SIIM folder + RLE CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "train"
HELP = "Train the classifier or the segmenter of a model bundle from a DICOM folder and a SIIM RLE CSV."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=("classifier", "segmenter"), help="which model of the bundle to train")
    parser.add_argument("--data", required=True, type=Path, help="folder of DICOMs (any nesting, SIIM layout works)")
    parser.add_argument("--labels", required=True, type=Path,
                        help="SIIM CSV (ImageId,EncodedPixels): training style (row per instance) or "
                             "submission style")
    parser.add_argument("--out", required=True, type=Path,
                        help="bundle folder to write (created; the other model already in it is kept)")
    parser.add_argument("--arch", default=None,
                        help="classifier: small | unet-mil | densenet121 | unet-empty | unet-densenet121-empty; "
                             "segmenter: unet-small | unet | unet-densenet121 (default: small / unet-small)")
    parser.add_argument("--size", type=int, default=256, help="square input side, a multiple of 32 (default 256)")
    parser.add_argument("--crop", type=int, default=None, metavar="N",
                        help="segmenter: train on random NxN windows of the --size images (a multiple of 32, at "
                             "most --size); validation and the saved model run on whole --size images")
    parser.add_argument("--epochs", type=int, default=10,
                        help="default 10; 0 with --init-from: write that model as it is, with its validation figures")
    parser.add_argument("--batch", type=int, default=8, help="batch size per replica (default 8)")
    parser.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (Adam, cosine decay)")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="default: one pass over the training images")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of patients held out (default 0.2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the bundle's last checkpoint")
    parser.add_argument("--imagenet-weights", default=None, metavar="FILE",
                        help="local DenseNet121 ImageNet weights (.h5, no top) to start from; never downloaded")
    parser.add_argument("--init-from", default=None, metavar="PATH",
                        help="start from the weights of a .keras file or bundle (layers matched by name), e.g. a "
                             "unet-mil classifier from a trained U-Net segmenter, or unet-empty from one trained "
                             "with --empty-weight")
    parser.add_argument("--cache", default="", metavar="PREFIX",
                        help="cache decoded images in files with this prefix (default: in memory)")
    parser.add_argument("--no-augment", action="store_true",
                        help="turn off every augmentation (flips, affine, elastic, brightness/contrast, JPEG)")
    parser.add_argument("--no-elastic", action="store_true",
                        help="keep the other augmentations but not the elastic deformation (as bundles trained "
                             "before it)")
    parser.add_argument("--start-positive-rate", type=float, default=0.8,
                        help="share of positive images in the first epoch, falling to the dataset's own rate")
    parser.add_argument("--positives-only", action="store_true", help="segmenter: sample only positive images")
    parser.add_argument("--bce-weight", type=float, default=1.0, help="segmenter loss: weight of the BCE term")
    parser.add_argument("--dice-weight", type=float, default=1.0, help="segmenter loss: weight of the soft-Dice term")
    parser.add_argument("--pos-weight", type=float, default=1.0, help="segmenter loss: BCE weight of mask pixels")
    parser.add_argument("--empty-weight", type=float, default=0.0,
                        help="segmenter loss: weight of the BCE of an empty-mask branch on the deepest encoder "
                             "features (0 = no branch); the bundle keeps the mask-only model, the branch becomes "
                             "the unet-empty classifier (--init-from)")
    parser.add_argument("--width", type=int, default=None, help="filters of the first level (small/U-Net)")
    parser.add_argument("--depth", type=int, default=None, help="down-sampling levels (small/U-Net)")
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                        help="float16 compute: auto = on GPU only")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic ops (reproducible runs, a little slower)")
    group = parser.add_argument_group("bundle settings (kept from the existing manifest when not given)")
    group.add_argument("--name", default=None, help="bundle name (default: the --out folder's name)")
    group.add_argument("--model-version", dest="version", default=None)
    group.add_argument("--synthetic", action="store_true", default=None,
                       help="mark the bundle as trained on synthetic data (shown next to every AI result)")
    group.add_argument("--classifier-threshold", type=float, default=None,
                       help="P(pneumothorax) below which the mask is empty (default 0.5)")
    group.add_argument("--mask-threshold", type=float, default=None, help="segmenter probability threshold")
    group.add_argument("--min-area", type=int, default=None, dest="min_area_px_1024",
                       help="minimum mask component area in pixels at 1024x1024")
    parser.add_argument("-q", "--quiet", action="store_true", help="one line per epoch instead of a progress bar")


def run(args: argparse.Namespace) -> int:
    from pneumoviewer.inference.bundle import BundleError
    from pneumoviewer.io.siim_csv import CsvError

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if not args.data.is_dir():
        log(f"error: {args.data}: not a folder")
        return 2
    if not args.labels.is_file():
        log(f"error: {args.labels}: no such CSV file")
        return 2
    log("loading TensorFlow…")
    from pneumoviewer.inference.backend import tensorflow

    tensorflow()  # its start-up lines go to the log file, not the terminal
    from pneumoviewer.training.loop import TrainConfig, TrainError, train

    try:
        cfg = TrainConfig(
            task=args.task, arch=args.arch, size=args.size, crop=args.crop, epochs=args.epochs, batch=args.batch,
            lr=args.lr, steps_per_epoch=args.steps_per_epoch, val_fraction=args.val_fraction, seed=args.seed,
            cache=args.cache, augment=not args.no_augment, elastic=not args.no_elastic,
            start_positive_rate=args.start_positive_rate,
            positives_only=args.positives_only, bce_weight=args.bce_weight, dice_weight=args.dice_weight,
            pos_weight=args.pos_weight, empty_weight=args.empty_weight, width=args.width, depth=args.depth,
            dropout=args.dropout,
            imagenet_weights=args.imagenet_weights, init_from=args.init_from, resume=args.resume,
            deterministic=args.deterministic,
            mixed_precision=args.mixed_precision,
            verbose=2 if args.quiet or not sys.stdout.isatty() else 1,
            name=args.name, version=args.version, synthetic=args.synthetic,
            classifier_threshold=args.classifier_threshold, mask_threshold=args.mask_threshold,
            min_area_px_1024=args.min_area_px_1024,
        )
    except ValueError as exc:
        log(f"error: {exc}")
        return 2

    from tqdm import tqdm

    bar = None

    def scan_progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="indexing", unit="file", file=sys.stderr, leave=False)
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = train(cfg, args.data, args.labels, args.out, log=log, scan_progress=scan_progress)
    except (TrainError, BundleError, CsvError, FileNotFoundError, ValueError) as exc:  # ValueError: TF_CONFIG
        log(f"error: {exc}")
        return 1
    finally:
        if bar is not None:
            bar.close()
    if not result.is_chief:
        log(f"{args.task}: this worker finished; weights fingerprint {result.fingerprint}; the chief wrote the "
            "bundle")
        return 130 if result.interrupted else 0
    best = {k: round(v, 4) for k, v in result.best.items() if isinstance(v, float)}
    log(f"{args.task} saved in {args.out} (best epoch {result.best.get('epoch')}: {best}); "
        f"weights fingerprint {result.fingerprint}")
    return 130 if result.interrupted else 0
