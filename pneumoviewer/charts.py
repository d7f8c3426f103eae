"""Charts drawn with Pillow + numpy (matplotlib is not a dependency): the report figures and the packaging plots.

A figure is described once as a `ChartSpec` (bars over categories, a histogram over bin edges, or lines), so the
CLI's PNGs (`render_chart`) and the app's pyqtgraph dashboard draw the same numbers from the same description.
Drawing happens at 2x and is downsampled, because Pillow's lines are not anti-aliased.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pneumoviewer.io.atomic import atomic_write_bytes

MAX_BYTES = 250_000
SCALE = 2  # draw at 2x and downsample
BLUE = (31, 119, 180)
ORANGE = (230, 110, 20)
GREEN = (34, 139, 34)
RED = (200, 30, 40)
GREY = (120, 120, 120)
INK = (20, 20, 20)
GRID = (225, 225, 225)



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
              y2colour: tuple[int, int, int] = INK, xticks: Sequence[float] | None = None,
              xticklabels: Sequence[str] | None = None, yticks: Sequence[float] | None = None) -> None:
        """Grid, axes box, ticks with labels (``xticklabels`` name the x ticks, for categories), axis labels and
        the panel title."""
        x0, y0, x1, y1 = self.px
        s = SCALE
        xt = list(xticks) if xticks is not None else nice_ticks(*self.xlim, 6)
        yt = list(yticks) if yticks is not None else nice_ticks(*self.ylim, 6)
        for i, v in enumerate(xt):
            (px, _), = self.to_px(np.array([v]), np.array([self.ylim[0]]))
            if xticklabels is None:
                self.draw.line([(px, y0), (px, y1)], fill=GRID, width=s)
            self.draw.line([(px, y1), (px, y1 + 5 * s)], fill=INK, width=s)
            label = fmt_tick(v, xt) if xticklabels is None else xticklabels[i]
            self.text((px, y1 + 8 * s), label, 12 if xticklabels is None else 11, "ma")
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


def draw_placeholder(ax: Axes, title: str, message: str) -> None:
    """An empty panel that says why it is empty."""
    ax.set_limits((0, 1), (0, 1))
    ax.frame(title, "", "")
    x0, y0, x1, y1 = ax.px
    ax.text(((x0 + x1) / 2, (y0 + y1) / 2), message, 14, "mm", fill=GREY)


def png_bytes(img: Image.Image, max_bytes: int = MAX_BYTES) -> bytes:
    """PNG file contents; a 256-colour palette when the RGB file would exceed ``max_bytes``."""
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    if buf.tell() > max_bytes:
        buf = io.BytesIO()
        img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def save_png(img: Image.Image, out: Path, max_bytes: int = MAX_BYTES) -> int:
    """Atomic PNG write (see `png_bytes`); returns the file size."""
    data = png_bytes(img, max_bytes)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return len(data)


# ---------------------------------------------------------------------------------------------------------------
# Chart descriptions shared by the PNG renderer and the app's dashboard

Colour = tuple[int, int, int]
KINDS = ("bars", "hist", "lines")
LINE_STYLES = ("solid", "dashed", "points")


@dataclass(frozen=True)
class Series:
    """One data series: bar heights (one per category or bin), or a line / points through (x, y)."""

    label: str
    y: np.ndarray
    colour: Colour
    x: np.ndarray | None = None  # lines only
    style: str = "solid"  # lines only: solid, dashed or points

    def __post_init__(self) -> None:
        if self.style not in LINE_STYLES:
            raise ValueError(f"series style must be one of {LINE_STYLES}, got {self.style!r}")


@dataclass(frozen=True)
class ChartSpec:
    """One figure: what to draw, independent of the toolkit that draws it.

    ``bars``: grouped bars, one group per entry of ``categories``; ``hist``: bars over ``edges`` (one value per
    bin); ``lines``: each series through its (x, y). ``message`` replaces the data when there is none to show
    ("no reviews yet"). ``vlines`` are labelled vertical markers (a threshold).
    """

    key: str  # file name stem of the PNG, and the dashboard's plot name
    title: str
    kind: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...] = ()
    categories: tuple[str, ...] = ()
    edges: np.ndarray | None = None
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    vlines: tuple[tuple[float, str, Colour], ...] = ()
    message: str | None = None
    legend: str = "ur"
    notes: tuple[str, ...] = field(default_factory=tuple)  # one-line facts shown under the title (AUC, n)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"chart kind must be one of {KINDS}, got {self.kind!r}")
        n = len(self.categories) if self.kind == "bars" else (len(self.edges) - 1 if self.edges is not None else 0)
        if self.kind in ("bars", "hist"):
            for s in self.series:
                if len(s.y) != n:
                    raise ValueError(f"chart {self.key}: series {s.label!r} has {len(s.y)} values for {n} bars")

    def bar_geometry(self) -> list[tuple[np.ndarray, float]]:
        """(left edges, width) of each series' bars, side by side within a category or bin."""
        k = max(len(self.series), 1)
        if self.kind == "bars":
            width = 0.8 / k
            centres = np.arange(len(self.categories), dtype=np.float64)
            return [(centres - 0.4 + i * width, width) for i in range(len(self.series))]
        if self.kind == "hist" and self.edges is not None:
            edges = np.asarray(self.edges, dtype=np.float64)
            bw = edges[1:] - edges[:-1]
            width = float(bw.min()) * 0.88 / k
            return [(edges[:-1] + bw * 0.06 + i * width, width) for i in range(len(self.series))]
        return []

    def limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """x and y data ranges: the spec's own, else the data's with a margin (bars start at 0)."""
        if self.kind == "bars":
            xlim = (-0.6, max(len(self.categories), 1) - 0.4)
        elif self.kind == "hist" and self.edges is not None:
            xlim = (float(self.edges[0]), float(self.edges[-1]))
        else:
            xs = [np.asarray(s.x, float) for s in self.series if s.x is not None]
            xlim = _span(xs, (0.0, 1.0))
        if self.kind in ("bars", "hist"):
            top = max((float(np.max(s.y, initial=0)) for s in self.series), default=0.0)
            ylim = (0.0, top * 1.3 if top > 0 else 1.0)  # headroom for the legend
        else:
            ylim = _span([np.asarray(s.y, float) for s in self.series], (0.0, 1.0))
        return self.xlim or xlim, self.ylim or ylim


def _span(arrays: Sequence[np.ndarray], default: tuple[float, float]) -> tuple[float, float]:
    v = np.concatenate([a.ravel() for a in arrays]) if arrays else np.empty(0)
    v = v[np.isfinite(v)]
    if not v.size:
        return default
    lo, hi = float(v.min()), float(v.max())
    pad = (hi - lo) * 0.05 or max(abs(hi), 1.0) * 0.1
    return lo - pad, hi + pad


def _count_ticks(ylim: tuple[float, float]) -> list[float]:
    """Whole-number ticks for a count axis (no "2.5 images")."""
    ticks = nice_ticks(*ylim, 6)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    if step >= 1 and all(float(t).is_integer() for t in ticks):
        return ticks
    step = float(max(1, math.ceil(step)))
    return [k * step for k in range(int(ylim[1] // step) + 1)]


def render_chart(spec: ChartSpec, size: tuple[int, int] = (640, 420)) -> Image.Image:
    """The figure of ``spec`` as an RGB image of ``size`` (white page, dark ink)."""
    w, h = size
    canvas = Image.new("RGB", (w * SCALE, h * SCALE), "white")
    draw = ImageDraw.Draw(canvas)
    ax = Axes(draw, canvas, (0, 18 if spec.notes else 0, w, h))
    if spec.message is not None or not spec.series:
        draw_placeholder(ax, spec.title, spec.message or "no data")
        return canvas.resize((w, h), Image.Resampling.LANCZOS)
    xlim, ylim = spec.limits()
    ax.set_limits(xlim, ylim)
    yticks = _count_ticks(ylim) if spec.kind in ("bars", "hist") else None
    if spec.kind == "bars":
        n = len(spec.categories)
        ax.frame(spec.title, spec.xlabel, spec.ylabel, xticks=[float(i) for i in range(n)],
                 xticklabels=list(spec.categories), yticks=yticks)
    elif spec.kind == "hist" and spec.edges is not None and len(spec.edges) <= 12:
        edges = [float(e) for e in spec.edges]
        ax.frame(spec.title, spec.xlabel, spec.ylabel, xticks=edges, yticks=yticks)
    else:
        ax.frame(spec.title, spec.xlabel, spec.ylabel, yticks=yticks)
    for series, (left, width) in zip(spec.series, spec.bar_geometry()):
        ax.bars(left, width, np.asarray(series.y, float), series.colour, series.label)
    if spec.kind == "lines":
        for series in spec.series:
            x, y = np.asarray(series.x, float), np.asarray(series.y, float)
            if series.style == "points":
                r = 6 * SCALE
                for px, py in ax.to_px(x, y):
                    draw.ellipse([px - r, py - r, px + r, py + r], fill=series.colour, outline=INK)
                ax.legend_items.append((series.label, series.colour, "dot"))
            else:
                dashed = series.style == "dashed"
                ax.plot(x, y, series.colour, series.label, width=1 if dashed else 3, dashed=dashed)
    for x, label, colour in spec.vlines:
        ax.plot(np.array([x, x]), np.array(ylim), colour, label, width=2, dashed=True)
    if spec.notes:
        x0, y0, x1, _ = ax.outer
        ax.text(((x0 + x1) / 2, y0 - 14 * SCALE), "   ".join(spec.notes), 12, "ma", fill=GREY)
    ax.legend(spec.legend)
    return canvas.resize((w, h), Image.Resampling.LANCZOS)
