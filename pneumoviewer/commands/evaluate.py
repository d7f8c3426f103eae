"""`pneumoviewer evaluate --pred PRED.csv --truth TRUTH.csv`: the Kaggle SIIM score of a mask CSV, and AUC.

The scoring itself is `pneumoviewer.metrics.score_csv`. A SIIM CSV carries no
image size: it comes from ``--size HxW`` (default 1024x1024) or, per image, from the DICOM headers under ``--data``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

    from pneumoviewer.io.siim_csv import RleTable

NAME = "evaluate"
HELP = "Score a predicted mask CSV against a ground-truth CSV (Kaggle mean Dice; AUC etc. with --probs)"


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1024x1024, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def _threshold(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("threshold must be in [0, 1]")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", type=Path, metavar="PRED.csv", help="predicted masks (SIIM RLE CSV)")
    parser.add_argument("--truth", type=Path, metavar="TRUTH.csv", help="ground truth (SIIM RLE CSV)")
    parser.add_argument(
        "--store",
        type=Path,
        metavar="FOLDER",
        help="instead of two CSVs: agreement (Dice) between the AI masks and the reviewer's final masks in FOLDER's "
        "review store (and against an imported reference layer, if any)",
    )
    parser.add_argument(
        "--ai-model",
        metavar="SHA256",
        help="with --store: the AI masks of this model (its bundle sha256, or 6+ leading hex digits; default: the "
        "folder's current model in the app, else each image's newest result)",
    )
    parser.add_argument(
        "--probs", type=Path, metavar="PROBS.csv", help="per-image P(pneumothorax): ImageId,probability"
    )
    parser.add_argument("--model", type=Path, metavar="BUNDLE",
                        help="instead of --pred/--probs: run this model bundle on --data first (as `predict` does), "
                             "then score it")
    parser.add_argument("--threshold", type=_threshold, default=None,
                        help="probability threshold (default 0.5; with --model, the bundle's own)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", type=_size, default=(1024, 1024), metavar="HxW", help="mask size (default 1024x1024)")
    size.add_argument("--data", type=Path, metavar="DIR", help="take each image's size from the DICOMs under DIR")
    parser.add_argument("--per-image", type=Path, metavar="OUT.csv", help="write the per-image table here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _sizes_from_folder(folder: Path) -> dict[str, tuple[int, int]]:
    from pneumoviewer.io.folder import scan_folder

    return scan_folder(folder).sizes()


def _run_store(args: argparse.Namespace) -> int:
    """AI-vs-reviewer agreement from a folder's review store (read-only use; nothing is changed)."""
    from pneumoviewer.review.agreement import agreement, model_line
    from pneumoviewer.review.store import ReviewStore, ReviewStoreError

    if not args.store.is_dir():
        print(f"pneumoviewer evaluate: {args.store}: not a folder", file=sys.stderr)
        return 2
    from pneumoviewer.metrics import finite_or_none

    try:
        store = ReviewStore.open(args.store, read_only=True)  # a read-only use never creates or changes a store
    except ReviewStoreError as exc:  # no store, or one that cannot be read: said, and nothing is changed
        print(f"pneumoviewer evaluate: {exc}", file=sys.stderr)
        return 2
    with store:
        if store.outcome.reason is not None:  # newer schema, damaged...: figures from it could mean other things
            print(f"pneumoviewer evaluate: {store.path}: review store: {store.outcome.message}", file=sys.stderr)
            return 1
        try:
            model = store.resolve_ai_model(args.ai_model) if args.ai_model is not None else None
        except ValueError as exc:
            print(f"pneumoviewer evaluate: {exc}", file=sys.stderr)
            return 2
        result = agreement(store, model)
    if args.json:
        print(json.dumps(finite_or_none(result)))
        return 0
    for m in result["models"] or [None]:
        print(f"AI model: {model_line(m)}")
    print(f"images with AI and final masks: {result['n_images']} ({result['unchanged']} unchanged)")
    print(f"mean Dice AI vs reviewer:       {_fmt(result['mean_dice'])}")
    for status, row in result["by_status"].items():
        print(f"  {status:<12} n={row['n']:<5} mean Dice {_fmt(row['mean_dice'])}")
    ref = result.get("reference")
    if ref:
        print(
            f"vs reference ({ref['n_images']} images): final {_fmt(ref['final_mean_dice'])}, "
            f"AI {_fmt(ref['ai_mean_dice'])}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.store is not None:
        if args.pred is not None or args.truth is not None:
            print("pneumoviewer evaluate: give either --store or --pred/--truth, not both", file=sys.stderr)
            return 2
        import sqlite3

        from pneumoviewer.review.schema import SchemaError
        from pneumoviewer.review.store import ReviewStoreError

        try:
            return _run_store(args)
        except (sqlite3.Error, SchemaError, ReviewStoreError, OSError) as exc:
            _error(f"{args.store}: review store: {exc}")
            return 2
    if args.ai_model is not None:
        print("pneumoviewer evaluate: --ai-model chooses among a review store's models; it needs --store FOLDER "
              "(to score a bundle on CSVs, use --model BUNDLE)", file=sys.stderr)
        return 2
    if args.model is not None:
        return _run_model(args)
    if args.threshold is None:
        args.threshold = 0.5
    if args.pred is None or args.truth is None:
        print("pneumoviewer evaluate: --pred and --truth are both needed (or --store FOLDER)", file=sys.stderr)
        return 2
    from pneumoviewer.io.rle import RleError
    from pneumoviewer.io.siim_csv import CsvError, read_rle_csv
    from pneumoviewer.metrics import score_csv

    sizes: dict[str, tuple[int, int]] = {}
    truth: Path | RleTable = args.truth
    try:
        if args.data is not None:
            if not args.data.is_dir():
                print(f"pneumoviewer evaluate: {args.data}: not a folder", file=sys.stderr)
                return 2
            sizes = _sizes_from_folder(args.data)
            truth = read_rle_csv(args.truth)  # read once: evaluate() scores this table
            missing = [i for i in truth.image_ids if i not in sizes]
            if missing:
                print(
                    f"pneumoviewer evaluate: warning: {len(missing)} ground-truth image(s) not found under "
                    f"{args.data}; assuming {args.size[0]}x{args.size[1]} for them",
                    file=sys.stderr,
                )
        with _bar() as bar:
            result = score_csv(
                args.pred,
                truth,
                probs_csv=args.probs,
                threshold=args.threshold,
                size=args.size,
                sizes=sizes,
                per_image_out=args.per_image,
                progress=_step(bar),
            )
    except (CsvError, RleError, ValueError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:  # --per-image cannot be written (atomic_write names its temp file, then the target)
        target = exc.filename2 or exc.filename
        _error(f"{target}: {exc.strerror}" if target and exc.strerror else str(exc))
        return 1
    if args.json:
        print(json.dumps(result, sort_keys=False))
        return 0
    _print_text(result)
    if args.per_image is not None:
        print(f"per-image table: {args.per_image}")
    return 0


def _run_model(args: argparse.Namespace) -> int:
    """`--model`: predict over --data with the bundle (the `predict` command itself), then score like --pred."""
    import tempfile

    from pneumoviewer.commands import predict

    if args.pred is not None or args.probs is not None or args.data is None or args.truth is None:
        print("pneumoviewer evaluate: --model needs --data and --truth (and no --pred/--probs)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pv-evaluate-") as tmp:
        parser = argparse.ArgumentParser()
        predict.add_arguments(parser)
        pargs = parser.parse_args([str(args.data), "--out", f"{tmp}/pred.csv", "--probs", f"{tmp}/probs.csv",
                                   "--model", str(args.model)])
        code = predict.run(pargs)
        if code != 0:
            return code
        if args.threshold is None:
            from pneumoviewer.inference.bundle import read_manifest

            args.threshold = read_manifest(args.model).config.classifier_threshold
        args.pred, args.probs, args.model = Path(tmp) / "pred.csv", Path(tmp) / "probs.csv", None
        return run(args)


def _bar() -> tqdm:
    from tqdm import tqdm

    return tqdm(desc="scoring", unit="img", file=sys.stderr, disable=None, leave=False)


def _step(bar: tqdm) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total)
        bar.update(done - bar.n)

    return progress


def _error(message: str) -> None:
    """One stderr line; `printable`, since messages quote ids and tokens from the CSVs."""
    from pneumoviewer.core.text import printable

    print(printable(f"pneumoviewer evaluate: {message}"), file=sys.stderr)


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _print_text(r: dict[str, Any]) -> None:
    print(f"images scored:        {r['n_images']} ({r['n_positive_truth']} positive, {r['n_negative_truth']} negative)")
    print(f"mean Dice (Kaggle):   {_fmt(r['mean_dice'])}")
    print(f"  on positives:       {_fmt(r['mean_dice_positive'])}")
    print(f"  on negatives:       {_fmt(r['mean_dice_negative'])}")
    if r["n_missing_from_pred"]:
        print(f"missing from pred:    {r['n_missing_from_pred']} (scored as empty masks)")
    if r["n_extra_in_pred"]:
        print(f"not in truth:         {r['n_extra_in_pred']} (ignored)")
    m = r["mask_detection"]
    print(f"non-empty mask as detection: sensitivity {_fmt(m['sensitivity'])}, specificity {_fmt(m['specificity'])}")
    if "auc" in r:
        print(f"ROC AUC:              {_fmt(r['auc'])}")
        print(
            f"at threshold {r['threshold']:.2f}:    sensitivity {_fmt(r['sensitivity'])}, "
            f"specificity {_fmt(r['specificity'])}, precision {_fmt(r['precision'])}, accuracy {_fmt(r['accuracy'])}"
        )
