"""Draw one PNG of dataset and model statistics for the shipped demo model bundle.

Why a script: the README shows how the demo model was trained and how it scores on held-out phantom images; the
picture is derived from the training logs in models/demo/ and a held-out prediction run, so it is regenerated here
instead of being edited by hand. matplotlib is not a project dependency, so this draws with Pillow + numpy.

Panels (2 x 2): classifier training curves (train/val loss, val AUC), segmenter training curves (train/val loss,
val Dice), ROC curve of held-out probabilities (AUC in the legend), and the probability histogram of positives vs
negatives with the manifest's classifier threshold.

Usage (from the repository root, with the project's environment):

    .venv/bin/python packaging/plot_model_stats.py --probs test-probs.csv --truth phantom-test/train-rle.csv

Prints one JSON object (auc, n_pos, n_neg, final validation metrics) to stdout.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models" / "demo"
DEFAULT_OUT = ROOT / "resources" / "docs" / "demo_model_stats.png"
TITLE = "PneumoViewer demo model — SYNTHETIC phantom data, not for clinical use"
MAX_BYTES = 250_000

SCALE = 2  # draw at 2x and downsample: Pillow's lines are not anti-aliased
BLUE = (31, 119, 180)
ORANGE = (230, 110, 20)
GREEN = (34, 139, 34)
RED = (200, 30, 40)
GREY = (120, 120, 120)
INK = (20, 20, 20)
GRID = (225, 225, 225)


class StatsError(ValueError):
    """Bad input file: the message names the file (and line where it applies)."""


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def read_log(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-epoch Keras CSV log → {column: float array}; StatsError naming file and line on bad rows/missing columns."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise StatsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    names = [n.strip() for n in (reader.fieldnames or [])]
    missing = [c for c in required if c not in names]
    if missing:
        raise StatsError(f"{path}: line 1: missing column(s) {', '.join(missing)} (header: {', '.join(names)})")
    cols: dict[str, list[float]] = {n: [] for n in names}
    for row in reader:
        line = reader.line_num
        for key, value in row.items():
            if key is None:
                raise StatsError(f"{path}: line {line}: more fields than the header")
            try:
                cols[key.strip()].append(float(value) if value not in (None, "") else math.nan)
            except ValueError:
                raise StatsError(f"{path}: line {line}: {key.strip()}={value!r} is not a number") from None
    out = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    if not out[required[0]].size:
        raise StatsError(f"{path}: no epochs")
    return out


def read_threshold(manifest: Path) -> float:
    """The bundle's classifier probability threshold (thresholds.classifier_probability in manifest.json)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return float(data["thresholds"]["classifier_probability"])
    except OSError as exc:
        raise StatsError(f"{manifest}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StatsError(f"{manifest}: no usable thresholds.classifier_probability ({exc})") from None


def read_heldout(probs: Path, truth: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(labels bool, scores, n_extra_probs) for every image in the truth CSV; every one must have a probability."""
    from pneumoviewer.io.siim_csv import read_probabilities_csv, read_rle_csv

    prob = read_probabilities_csv(probs)
    table = read_rle_csv(truth)
    ids = list(table.image_ids)
    if not ids:
        raise StatsError(f"{truth}: no images")
    lacking = [i for i in ids if i not in prob]
    if lacking:
        raise StatsError(f"{probs}: no probability for {len(lacking)} of {len(ids)} images in {truth}")
    y = np.array([table.is_positive(i) for i in ids], dtype=bool)
    s = np.array([prob[i] for i in ids], dtype=np.float64)
    return y, s, len(set(prob) - set(ids))


def roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) from (0, 0) to (1, 1), one vertex per distinct score; ties move diagonally, as the AUC counts."""
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), ys.size - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


# ---------------------------------------------------------------------------------------------------------------
# Drawing


_FONT_CACHE: dict[tuple[int, bool], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at ``size`` px (scaled), falling back to Pillow's bundled default font."""
    key = (size, bold)
    if key not in _FONT_CACHE:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        for candidate in (name, f"/usr/share/fonts/truetype/dejavu/{name}"):
            try:
                _FONT_CACHE[key] = ImageFont.truetype(candidate, size * SCALE)
                break
            except OSError:
                continue
        else:
            _FONT_CACHE[key] = ImageFont.load_default(size=size * SCALE)
    return _FONT_CACHE[key]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def fmt_tick(v: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if step < 1 and round(step * 10**decimals) % 5 and round(step * 10**decimals) % 2:
        decimals += 1
    if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return f"{v:.{decimals}f}"


class Axes:
    """A rectangular plot area on a Pillow canvas with data → pixel mapping, ticks, labels, legend."""

    def __init__(self, draw: ImageDraw.ImageDraw, canvas: Image.Image, box: tuple[int, int, int, int]) -> None:
        self.draw, self.canvas = draw, canvas
        # box is the panel's outer box in unscaled px; leave room for labels
        x0, y0, x1, y1 = (v * SCALE for v in box)
        self.outer = (x0, y0, x1, y1)
        self.px = (x0 + 78 * SCALE, y0 + 40 * SCALE, x1 - 70 * SCALE, y1 - 52 * SCALE)
        self.xlim = (0.0, 1.0)
        self.ylim = (0.0, 1.0)
        self.y2lim: tuple[float, float] | None = None
        self.legend_items: list[tuple[str, tuple[int, int, int], str]] = []

    def set_limits(self, xlim: tuple[float, float], ylim: tuple[float, float],
                   y2lim: tuple[float, float] | None = None) -> None:
        """Data ranges for x, the left y axis and (optionally) a right y axis."""
        self.xlim, self.ylim, self.y2lim = xlim, ylim, y2lim

    def to_px(self, x: np.ndarray, y: np.ndarray, right: bool = False) -> list[tuple[float, float]]:
        """Data coordinates → canvas pixels (clipped to the plot area)."""
        x0, y0, x1, y1 = self.px
        ylo, yhi = self.y2lim if right and self.y2lim else self.ylim
        xs = x0 + (np.asarray(x, float) - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (x1 - x0)
        ys = y1 - (np.asarray(y, float) - ylo) / (yhi - ylo) * (y1 - y0)
        xs, ys = np.clip(xs, x0, x1), np.clip(ys, y0, y1)
        return list(zip(xs.tolist(), ys.tolist()))

    def text(self, xy: tuple[float, float], s: str, size: int = 13, anchor: str = "la",
             fill: tuple[int, int, int] = INK, bold: bool = False) -> None:
        self.draw.text(xy, s, font=font(size, bold), fill=fill, anchor=anchor)

    def vtext(self, xy: tuple[float, float], s: str, size: int = 13, fill: tuple[int, int, int] = INK) -> None:
        """Text rotated 90° (counter-clockwise), centred on ``xy``."""
        f = font(size)
        left, top, right, bottom = f.getbbox(s)
        tile = Image.new("L", (right - left + 4, bottom - top + 4), 0)
        ImageDraw.Draw(tile).text((2 - left, 2 - top), s, font=f, fill=255)
        tile = tile.rotate(90, expand=True)
        colour = Image.new("RGB", tile.size, fill)
        self.canvas.paste(colour, (int(xy[0] - tile.width / 2), int(xy[1] - tile.height / 2)), tile)

    def frame(self, title: str, xlabel: str, ylabel: str, y2label: str | None = None,
              y2colour: tuple[int, int, int] = INK, xticks: Sequence[float] | None = None) -> None:
        """Grid, axes box, ticks with labels, axis labels and the panel title."""
        x0, y0, x1, y1 = self.px
        s = SCALE
        xt = list(xticks) if xticks is not None else nice_ticks(*self.xlim, 6)
        yt = nice_ticks(*self.ylim, 6)
        for v in xt:
            (px, _), = self.to_px(np.array([v]), np.array([self.ylim[0]]))
            self.draw.line([(px, y0), (px, y1)], fill=GRID, width=s)
            self.draw.line([(px, y1), (px, y1 + 5 * s)], fill=INK, width=s)
            self.text((px, y1 + 8 * s), fmt_tick(v, xt), 12, "ma")
        for v in yt:
            (_, py), = self.to_px(np.array([self.xlim[0]]), np.array([v]))
            self.draw.line([(x0, py), (x1, py)], fill=GRID, width=s)
            self.draw.line([(x0 - 5 * s, py), (x0, py)], fill=INK, width=s)
            self.text((x0 - 8 * s, py), fmt_tick(v, yt), 12, "rm")
        if self.y2lim and y2label:
            y2t = nice_ticks(*self.y2lim, 5)
            for v in y2t:
                (_, py), = self.to_px(np.array([self.xlim[0]]), np.array([v]), right=True)
                self.draw.line([(x1, py), (x1 + 5 * s, py)], fill=y2colour, width=s)
                self.text((x1 + 8 * s, py), fmt_tick(v, y2t), 12, "lm", fill=y2colour)
            self.vtext((x1 + 58 * s, (y0 + y1) / 2), y2label, 13, fill=y2colour)
        self.draw.rectangle([x0, y0, x1, y1], outline=INK, width=s)
        self.text(((x0 + x1) / 2, y1 + 28 * s), xlabel, 13, "ma")
        self.vtext((x0 - 62 * s, (y0 + y1) / 2), ylabel, 13)
        self.text(((x0 + x1) / 2, y0 - 12 * s), title, 15, "md", bold=True)

    def plot(self, x: np.ndarray, y: np.ndarray, colour: tuple[int, int, int], label: str | None = None,
             width: int = 2, dashed: bool = False, right: bool = False, markers: bool = False) -> None:
        """Polyline through finite points (NaNs break the line), optional markers, legend entry."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        pts = self.to_px(x[ok], y[ok], right=right)
        w = width * SCALE
        if len(pts) > 1:
            if dashed:
                for a, b in itertools.pairwise(pts):
                    self._dash(a, b, colour, w)
            else:
                self.draw.line(pts, fill=colour, width=w, joint="curve")
        if markers:
            r = 3.2 * SCALE
            for px, py in pts:
                self.draw.ellipse([px - r, py - r, px + r, py + r], fill=colour)
        if label:
            self.legend_items.append((label, colour, "dash" if dashed else "line"))

    def _dash(self, a: tuple[float, float], b: tuple[float, float], colour: tuple[int, int, int], w: int) -> None:
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        on, off = 9 * SCALE, 6 * SCALE
        t = 0.0
        while t < length:
            e = min(t + on, length)
            p = (a[0] + (b[0] - a[0]) * t / length, a[1] + (b[1] - a[1]) * t / length)
            q = (a[0] + (b[0] - a[0]) * e / length, a[1] + (b[1] - a[1]) * e / length)
            self.draw.line([p, q], fill=colour, width=w)
            t += on + off

    def bars(self, left: np.ndarray, width: float, heights: np.ndarray, colour: tuple[int, int, int],
             label: str | None = None) -> None:
        """Vertical bars with their left edge at ``left`` (data units)."""
        for lx, h in zip(left, heights):
            if h <= 0:
                continue
            (ax, ay), (bx, by) = self.to_px(np.array([lx, lx + width]), np.array([h, self.ylim[0]]))
            self.draw.rectangle([ax, ay, bx, by], fill=colour, outline=tuple(int(c * 0.7) for c in colour))
        if label:
            self.legend_items.append((label, colour, "box"))

    def legend(self, corner: str = "ur") -> None:
        """Boxed legend inside the plot area at corner ur/mr/lr/ul/ml/ll."""
        if not self.legend_items:
            return
        s = SCALE
        f = font(12)
        row_h, sw = 20 * s, 26 * s
        width = max(f.getlength(t) for t, _, _ in self.legend_items) + sw + 22 * s
        height = row_h * len(self.legend_items) + 10 * s
        x0, y0, x1, y1 = self.px
        lx = x1 - width - 10 * s if corner[1] == "r" else x0 + 10 * s
        ly = {"u": y0 + 10 * s, "m": (y0 + y1 - height) / 2}.get(corner[0], y1 - height - 10 * s)
        self.draw.rectangle([lx, ly, lx + width, ly + height], fill=(255, 255, 255), outline=(170, 170, 170), width=s)
        for i, (label, colour, kind) in enumerate(self.legend_items):
            cy = ly + 5 * s + row_h * i + row_h / 2
            sx = lx + 8 * s
            if kind == "dot":
                self.draw.ellipse([sx + sw / 2 - 6 * s, cy - 6 * s, sx + sw / 2 + 6 * s, cy + 6 * s], fill=colour,
                                  outline=INK)
            elif kind == "box":
                self.draw.rectangle([sx, cy - 6 * s, sx + sw, cy + 6 * s], fill=colour)
            elif kind == "dash":
                self._dash((sx, cy), (sx + sw, cy), colour, 2 * s)
            else:
                self.draw.line([(sx, cy), (sx + sw, cy)], fill=colour, width=3 * s)
            self.text((sx + sw + 8 * s, cy), label, 12, "lm")


def _padded(values: Sequence[np.ndarray], pad: float = 0.06, floor: float | None = None,
            ceil: float | None = None) -> tuple[float, float]:
    v = np.concatenate([np.asarray(a, float).ravel() for a in values])
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    span = hi - lo or max(abs(hi), 1.0) * 0.1
    lo, hi = lo - span * pad, hi + span * pad
    if floor is not None:
        lo = max(lo, floor)
    if ceil is not None:
        hi = min(hi, ceil)
    return lo, hi


def _epoch_ticks(epochs: np.ndarray) -> list[float]:
    n = int(np.nanmax(epochs))
    step = max(1, math.ceil(n / 10))
    return [float(e) for e in range(1, n + 1, step)]


def draw_training(ax: Axes, log: dict[str, np.ndarray], title: str, metric: str, metric_label: str,
                  metric_range: tuple[float, float] | None = None, legend: str = "ur") -> None:
    """Train/val loss on the left axis, validation ``metric`` on the right axis, per epoch."""
    ep = log["epoch"]
    xlim = (float(ep.min()) - 0.3, float(ep.max()) + 0.3)
    y2 = metric_range or _padded([log[metric]], 0.15, 0.0, 1.0)
    ax.set_limits(xlim, _padded([log["loss"], log["val_loss"]], 0.08, floor=0.0), y2)
    ax.frame(title, "epoch", "loss", f"validation {metric_label}", GREEN, xticks=_epoch_ticks(ep))
    ax.plot(ep, log["loss"], BLUE, "train loss", markers=True)
    ax.plot(ep, log["val_loss"], ORANGE, "val loss", markers=True)
    ax.plot(ep, log[metric], GREEN, f"val {metric_label} (right axis)", dashed=True, right=True, markers=True)
    ax.legend(legend)


def draw_placeholder(ax: Axes, title: str, message: str) -> None:
    ax.set_limits((0, 1), (0, 1))
    ax.frame(title, "", "")
    x0, y0, x1, y1 = ax.px
    ax.text(((x0 + x1) / 2, (y0 + y1) / 2), message, 14, "mm", fill=GREY)


def render(cls_log: dict[str, np.ndarray], seg_log: dict[str, np.ndarray], dice_col: str,
           heldout: tuple[np.ndarray, np.ndarray] | None, auc: float, threshold: float,
           size: tuple[int, int] = (1400, 900)) -> Image.Image:
    """The 2 x 2 figure as an RGB image of ``size``."""
    w, h = size
    canvas = Image.new("RGB", (w * SCALE, h * SCALE), "white")
    draw = ImageDraw.Draw(canvas)
    top = 56
    draw.text((w * SCALE / 2, 20 * SCALE), TITLE, font=font(20, bold=True), fill=INK, anchor="ma")
    pw, ph = w // 2, (h - top) // 2
    boxes = [(c * pw, top + r * ph, (c + 1) * pw, top + (r + 1) * ph) for r in range(2) for c in range(2)]
    axes = [Axes(draw, canvas, b) for b in boxes]

    draw_training(axes[0], cls_log, "Classifier training", "val_auc", "AUC")
    draw_training(axes[1], seg_log, "Segmenter training", dice_col, "Dice", (0.0, 1.0), legend="mr")

    if heldout is None:
        draw_placeholder(axes[2], "ROC (held-out)", "no --probs/--truth given")
        draw_placeholder(axes[3], "Probability histogram (held-out)", "no --probs/--truth given")
    else:
        y, s = heldout
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        roc = axes[2]
        roc.set_limits((0.0, 1.0), (0.0, 1.0))
        roc.frame(f"ROC, held-out images ({n_pos} pos / {n_neg} neg)", "false positive rate (1 − specificity)",
                  "true positive rate (sensitivity)")
        roc.plot(np.array([0.0, 1.0]), np.array([0.0, 1.0]), GREY, "chance", width=1, dashed=True)
        fpr, tpr = roc_points(y, s)
        roc.plot(fpr, tpr, BLUE, f"classifier (AUC = {auc:.3f})", width=3)
        if n_pos and n_neg:
            pred = s >= threshold
            sens, fp_rate = float(pred[y].mean()), float(pred[~y].mean())
            (px, py), = roc.to_px(np.array([fp_rate]), np.array([sens]))
            r = 6 * SCALE
            draw.ellipse([px - r, py - r, px + r, py + r], fill=RED, outline=INK)
            roc.legend_items.append((f"threshold {threshold:g}: sens {sens:.2f}, spec {1 - fp_rate:.2f}", RED, "dot"))
        roc.legend("lr")

        hist = axes[3]
        edges = np.linspace(0.0, 1.0, 21)
        hp = np.histogram(s[y], edges)[0] / max(n_pos, 1)
        hn = np.histogram(s[~y], edges)[0] / max(n_neg, 1)
        top_y = max(float(hp.max(initial=0)), float(hn.max(initial=0)), 0.05) * 1.12
        hist.set_limits((0.0, 1.0), (0.0, top_y))
        hist.frame("Predicted probability, held-out images", "classifier probability",
                   "fraction of class per bin", xticks=[i / 10 for i in range(11)])
        bw = edges[1] - edges[0]
        hist.bars(edges[:-1] + bw * 0.06, bw * 0.44, hn, BLUE, f"negatives (n={n_neg})")
        hist.bars(edges[:-1] + bw * 0.5, bw * 0.44, hp, ORANGE, f"positives (n={n_pos})")
        hist.plot(np.array([threshold, threshold]), np.array([0.0, top_y]), RED, f"threshold {threshold:g}",
                  width=2, dashed=True)
        hist.legend("ur")

    return canvas.resize((w, h), Image.Resampling.LANCZOS)


def save_png(img: Image.Image, out: Path, max_bytes: int = MAX_BYTES) -> int:
    """Atomic PNG write; falls back to a 256-colour palette if the RGB file would exceed ``max_bytes``."""
    import io

    from pneumoviewer.io.atomic import atomic_write_bytes

    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    if buf.tell() > max_bytes:
        buf = io.BytesIO()
        img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return buf.tell()


# ---------------------------------------------------------------------------------------------------------------


def _last_finite(a: np.ndarray) -> float | None:
    ok = np.flatnonzero(np.isfinite(a))
    return round(float(a[ok[-1]]), 6) if ok.size else None


def _json_number(v: object) -> object:
    """Floats rounded for the summary; NaN (undefined rate) becomes null so the output stays strict JSON."""
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v


def _dice_column(names: Sequence[str], path: Path) -> str:
    for cand in ("val_dice", "val_dice_coef", "val_dice_coefficient"):
        if cand in names:
            return cand
    others = [n for n in names if n.startswith("val_") and "dice" in n]
    if others:
        return others[0]
    raise StatsError(f"{path}: line 1: no validation Dice column (header: {', '.join(names)})")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; every path has a default inside the repository except the held-out CSVs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier-log", type=Path, default=MODEL_DIR / "classifier-training-log.csv")
    p.add_argument("--segmenter-log", type=Path, default=MODEL_DIR / "segmenter-training-log.csv")
    p.add_argument("--manifest", type=Path, default=MODEL_DIR / "manifest.json",
                   help="bundle manifest (thresholds.classifier_probability)")
    p.add_argument("--probs", type=Path, help="held-out predictions CSV: ImageId,probability")
    p.add_argument("--truth", type=Path, help="held-out ground truth, SIIM RLE CSV (positive = any row not -1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=900)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Read the logs (and held-out predictions), write the PNG, print the JSON summary; 2 on bad input."""
    args = build_parser().parse_args(argv)
    if (args.probs is None) != (args.truth is None):
        print("error: --probs and --truth go together", file=sys.stderr)
        return 2
    from pneumoviewer.io.siim_csv import CsvError
    from pneumoviewer.metrics import binary_report, roc_auc

    try:
        cls_log = read_log(args.classifier_log, ["epoch", "loss", "val_loss", "val_auc"])
        seg_log = read_log(args.segmenter_log, ["epoch", "loss", "val_loss"])
        dice_col = _dice_column(list(seg_log), args.segmenter_log)
        threshold = read_threshold(args.manifest)
        heldout = None
        extra = 0
        if args.probs is not None:
            y, s, extra = read_heldout(args.probs, args.truth)
            heldout = (y, s)
    except (StatsError, CsvError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    auc = roc_auc(heldout[0], heldout[1]) if heldout is not None else math.nan
    img = render(cls_log, seg_log, dice_col, heldout, auc, threshold, (args.width, args.height))
    nbytes = save_png(img, args.out)

    summary: dict[str, object] = {
        "out": str(args.out),
        "bytes": nbytes,
        "size": [img.width, img.height],
        "auc": None if math.isnan(auc) else round(auc, 6),
        "n_pos": int(heldout[0].sum()) if heldout is not None else None,
        "n_neg": int((~heldout[0]).sum()) if heldout is not None else None,
        "threshold": threshold,
        "classifier": {
            "epochs": int(cls_log["epoch"].size),
            "final_val_loss": _last_finite(cls_log["val_loss"]),
            "final_val_auc": _last_finite(cls_log["val_auc"]),
            "best_val_auc": _json_number(float(np.nanmax(cls_log["val_auc"]))),
        },
        "segmenter": {
            "epochs": int(seg_log["epoch"].size),
            "final_val_loss": _last_finite(seg_log["val_loss"]),
            "final_val_dice": _last_finite(seg_log[dice_col]),
            "best_val_dice": _json_number(float(np.nanmax(seg_log[dice_col]))),
        },
    }
    if heldout is not None:
        report = binary_report(heldout[0], heldout[1], threshold=threshold)
        summary["at_threshold"] = {k: _json_number(v) for k, v in report.items()}
        summary["probs_without_truth"] = extra
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
