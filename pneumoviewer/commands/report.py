"""`pneumoviewer report FOLDER [--html OUT.html] [--png OUT_DIR] [--json] [--threshold P]`: dataset and model QA.

Class balance (reviewer and AI labels), sex / age / view position by label, image sizes, mask areas, and against
the reviewer labels the AI's ROC, probability histogram, Dice by status and the images where AI and reviewer
disagree most. The HTML is one self-contained file (figures inlined as base64 PNG, a table of the numbers); the
PNGs are one file per figure, named after the figure.

Read-only: the folder's review store is read when there is one and never created or changed (without one, the
reviewer-label figures say "no reviews yet"), and nothing is written into the study folder unless the user names a
path there. The output names no patient and no folder path (a path can carry a name): ImageMeta holds no names or
IDs; image IDs (SOPInstanceUIDs) are listed, as in every export.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pneumoviewer.review.dataset_stats import DatasetStats

NAME = "report"
HELP = "Dataset and model-QA figures of a folder and its reviews (HTML, PNG or JSON); changes nothing"
FIGURE_SIZE = (640, 420)
TOP_DISAGREEMENTS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="FOLDER", help="the image folder (indexed recursively)")
    parser.add_argument("--html", metavar="OUT.html", type=Path, help="write one self-contained HTML report")
    parser.add_argument("--png", metavar="OUT_DIR", type=Path, help="write one PNG per figure into this folder")
    parser.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="AI probability threshold for AI labels (default: the stored results' model bundle's classifier "
        "threshold, else 0.5)",
    )
    parser.add_argument("--no-cache", action="store_true", help="re-read every header (ignore the index cache)")


def _model_threshold(models: tuple[str, ...]) -> float:
    """The classifier threshold of the bundle that made most stored results; the config default otherwise."""
    from pneumoviewer.inference.bundle import BundleError, read_manifest
    from pneumoviewer.inference.catalog import find_bundles
    from pneumoviewer.inference.config import ModelConfig

    if models:
        for entry in find_bundles():
            if entry.info is not None and f"{entry.info.name} {entry.info.version}" == models[0]:
                try:
                    return read_manifest(entry.path).config.classifier_threshold
                except (BundleError, OSError):
                    break
    return ModelConfig().classifier_threshold


def compute(folder: Path, threshold: float | None, use_cache: bool = True) -> DatasetStats:
    """Index `folder` and compute its statistics with its review store, if it has one (never creating one)."""
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.review.dataset_stats import dataset_stats
    from pneumoviewer.review.store import ReviewStore, StoreNotFoundError

    index = scan_folder(folder, use_cache=use_cache)
    metas = [img.meta for img in index.images]
    try:  # read-only: never creates, migrates or moves aside a store (a damaged one raises)
        store = ReviewStore.open(folder, read_only=True)
    except StoreNotFoundError:
        return dataset_stats(metas, None, 0.5 if threshold is None else threshold)
    with store:
        stats = dataset_stats(metas, store, 0.5 if threshold is None else threshold)
    # AI labels are derived from the threshold on demand, so the model's own threshold costs no second pass
    return stats if threshold is not None else dataclasses.replace(stats, threshold=_model_threshold(stats.models))


def run(args: argparse.Namespace) -> int:
    from pneumoviewer.charts import png_bytes, render_chart
    from pneumoviewer.io.atomic import atomic_write, atomic_write_bytes

    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        print(f"pneumoviewer report: {folder}: not a folder", file=sys.stderr)
        return 2
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        print(f"pneumoviewer report: --threshold must be within [0, 1], got {args.threshold}", file=sys.stderr)
        return 2
    import sqlite3

    from pneumoviewer.review.schema import SchemaError
    from pneumoviewer.review.store import ReviewStoreError

    try:
        stats = compute(folder, args.threshold, use_cache=not args.no_cache)
    except (SchemaError, sqlite3.Error, ReviewStoreError, OSError) as exc:
        print(f"pneumoviewer report: {folder}: cannot read the review store: {exc}", file=sys.stderr)
        return 1
    figures = [(spec, png_bytes(render_chart(spec, FIGURE_SIZE))) for spec in stats.figures()] \
        if (args.png or args.html) else []
    numbers = stats.to_dict(TOP_DISAGREEMENTS)
    written: list[str] = []
    try:
        if args.png:
            for spec, data in figures:
                out = args.png / f"{spec.key}.png"
                atomic_write_bytes(out, data)
                written.append(str(out))
        if args.html:
            with atomic_write(args.html, "w", encoding="utf-8") as fh:
                fh.write(render_html(numbers, figures))
            written.append(str(args.html))
    except OSError as exc:
        print(f"pneumoviewer report: cannot write: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(numbers, indent=2))
    else:
        _print_summary(numbers)
        for path in written:
            print(f"wrote {path}")
    if not stats.n_images:
        print(f"pneumoviewer report: {folder}: no readable DICOM images", file=sys.stderr)
        return 1
    return 0


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _print_summary(n: dict[str, Any]) -> None:
    cb = n["class_balance"]
    print(f"Images {n['images']}, reviewer labels {n['labelled']} ({n['labels_imported']} imported), "
          f"AI results {n['ai_results']} (threshold {n['threshold']:g})")
    if not n["has_store"]:
        print("  no reviews yet (the folder has no review store)")
    print(f"  reviewer: {cb['reviewer']['positive']} positive, {cb['reviewer']['negative']} negative")
    print(f"  AI:       {cb['ai']['positive']} positive, {cb['ai']['negative']} negative")
    roc = n["roc"]
    if roc is not None:
        at = roc["at_threshold"]
        print(f"  AUC {_fmt(roc['auc'])}; at the threshold sensitivity {_fmt(at['sensitivity'])}, "
              f"specificity {_fmt(at['specificity'])}")
    for status, d in n["dice_by_status"].items():
        print(f"  Dice AI vs reviewer, {status}: mean {_fmt(d['mean'])} (n={d['n']})")


def _rows(title: str, table: dict[str, Any]) -> str:
    """A two-level dict as an HTML table (rows: outer keys; columns: inner keys); nothing when it is empty."""
    if not table:
        return ""
    cols = list(next(iter(table.values()))) if table else []
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th>" + "".join(f"<td>{html.escape(_fmt(v.get(c)))}</td>" for c in cols)
        + "</tr>" for k, v in table.items()
    )
    return f"<h3>{html.escape(title)}</h3><table><tr><th></th>{head}</tr>{body}</table>"


def _binned(edges: list[float | None], counts: dict[str, list[int]], open_end: str) -> dict[str, dict[str, int]]:
    """Histogram counts keyed by bin label ("20-30"; the last bin "90+" or ">20")."""
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 2)]
    labels.append(f"{edges[-2]:g}+" if open_end else f">{edges[-2]:g}")
    return {row: dict(zip(labels, values)) for row, values in counts.items()}


def render_html(n: dict[str, Any], figures: list[tuple[Any, bytes]]) -> str:
    """The report as one HTML document: no external resources (figures are data: URIs, the style is inline)."""
    imgs = "".join(
        f'<figure><img alt="{html.escape(spec.title)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}"></figure>'
        for spec, data in figures
    )
    tables = [
        _rows("Class balance", n["class_balance"]),
        _rows("Sex by label", n["sex_by_label"]),
        _rows("Age by label", _binned(n["age_by_label"]["edges"], n["age_by_label"]["counts"], "+")),
        _rows("View position by label", n["view_by_label"]),
        _rows("Mask area (% of the image), non-empty masks",
              _binned(n["mask_area_pct"]["edges_pct"], {k: n["mask_area_pct"][k] for k in ("reviewer", "ai")}, "")),
        _rows("Image sizes", {"images": n["image_sizes"]}),
        _rows("Dice of AI vs reviewer mask, by status",
              {k: {"n": v["n"], "mean": v["mean"]} for k, v in n["dice_by_status"].items()}),
    ]
    if n["roc"] is not None:
        tables.append(_rows("AI against reviewer labels", {"at threshold": {"AUC": n["roc"]["auc"],
                                                                           **n["roc"]["at_threshold"]}}))
    worst = "".join(f"<tr><td>{i + 1}</td><td><code>{html.escape(d['image_id'])}</code></td>"
                    f"<td>{_fmt(d['score'])}</td></tr>" for i, d in enumerate(n["disagree_most"]))
    disagree = (f"<h3>AI and reviewer disagree most</h3><table><tr><th>#</th><th>image (SOPInstanceUID)</th>"
                f"<th>score</th></tr>{worst}</table>" if worst else "")
    status = "" if n["has_store"] else "<p><b>No reviews yet</b>: the folder has no review store.</p>"
    models = ", ".join(n["models"]) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>PneumoViewer dataset report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #141414; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 100%; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }}
</style></head><body>
<h1>PneumoViewer dataset report</h1>
<p>{n['images']} images; {n['labelled']} with a reviewer label ({n['labels_imported']} imported);
{n['ai_results']} AI results (models: {html.escape(models)}); AI labels at probability &ge; {n['threshold']:g}.
Supports review; does not diagnose.</p>
{status}
{imgs}
<h2>Numbers</h2>
{"".join(tables)}
{disagree}
</body></html>
"""
