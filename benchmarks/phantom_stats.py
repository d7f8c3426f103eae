"""Phantom label statistics vs the SIIM-ACR stage-2 training labels, generation speed, and example figures.

Prints one JSON object. Writes benchmarks/out/phantom_stats.png (area histogram vs target + examples) and
resources/docs/phantom_examples.png (a small montage for the README). No matplotlib: figures are drawn with numpy.

    .venv/bin/python benchmarks/phantom_stats.py [--n 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pneumoviewer.phantom import SIIM_TARGETS, generate_dataset, render_case, sample_instances

ROOT = Path(__file__).resolve().parents[1]


def label_stats(n: int, seed: int, size: int = 1024) -> tuple[dict, list[float]]:
    areas, cy, left, bh, bw, multi = [], [], [], [], [], []
    for i in range(n):
        inst = sample_instances(np.random.SeedSequence([seed, i]), size)
        union = np.zeros((size, size), dtype=bool)
        for m in inst:
            union |= m
        rr, cc = np.nonzero(union)
        scale = (1024 / size) ** 2
        areas.append(rr.size * scale)
        cy.append(rr.mean() / size)
        left.append(cc.mean() < size / 2)
        bh.append((rr.max() - rr.min() + 1) / size)
        bw.append((cc.max() - cc.min() + 1) / size)
        multi.append(len(inst) >= 2)
    a = np.array(areas)
    stats = {
        "area_p5": float(np.percentile(a, 5)),
        "area_p25": float(np.percentile(a, 25)),
        "area_p50": float(np.percentile(a, 50)),
        "area_p75": float(np.percentile(a, 75)),
        "area_p95": float(np.percentile(a, 95)),
        "area_max": float(a.max()),
        "left_half_fraction": float(np.mean(left)),
        "centroid_y_p10": float(np.percentile(cy, 10)),
        "centroid_y_p50": float(np.percentile(cy, 50)),
        "centroid_y_p90": float(np.percentile(cy, 90)),
        "bbox_height_p50": float(np.median(bh)),
        "bbox_width_p50": float(np.median(bw)),
        "multi_instance_fraction": float(np.mean(multi)),
    }
    return stats, areas


def speed() -> dict:
    out = {}
    for size, reps in ((256, 20), (1024, 6)):
        render_case(0, size, True)  # warm imports
        t = []
        for i in range(reps):
            t0 = time.perf_counter()
            render_case(i, size, bool(i % 2))
            t.append(time.perf_counter() - t0)
        out[f"render_ms_{size}"] = round(1e3 * float(np.median(t)), 1)
    with tempfile.TemporaryDirectory() as tmp:
        for size, n in ((256, 40), (1024, 8)):
            t0 = time.perf_counter()
            generate_dataset(Path(tmp) / str(size), n, seed=1, size=size, positive_rate=0.5)
            out[f"dataset_ms_per_image_{size}"] = round(1e3 * (time.perf_counter() - t0) / n, 1)
    return out


def _contour(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    return mask & ~binary_erosion(mask)


def montage(seed: int, cols: int = 4, rows: int = 2, tile: int = 256) -> Image.Image:
    tiles = []
    for i in range(cols * rows):
        case = render_case(np.random.SeedSequence([seed, 1000 + i]), tile, positive=i % 4 != 3)
        rgb = np.repeat(case.image[:, :, None], 3, axis=2)
        if case.positive:
            edge = _contour(case.mask)
            rgb[edge] = (255, 60, 40)
        tiles.append(rgb)
    grid = np.vstack([np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(rows)])
    img = Image.fromarray(grid)
    ImageDraw.Draw(img).text((6, 4), "SYNTHETIC phantoms (red: pneumothorax mask)", fill=(255, 255, 0))
    return img


def histogram(areas: list[float], width: int = 640, height: int = 260) -> Image.Image:
    """Log10(area) histogram of the phantoms (bars) vs the SIIM log-normal fit (line) and SIIM percentiles (ticks)."""
    img = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    lo, hi = 2.5, 5.5
    bins = np.linspace(lo, hi, 31)
    counts, _ = np.histogram(np.log10(np.maximum(areas, 1)), bins=bins)
    dens = counts / max(counts.sum(), 1) / (bins[1] - bins[0])
    x = lambda v: 40 + (v - lo) / (hi - lo) * (width - 60)  # noqa: E731
    peak = 1.6
    y = lambda p: height - 30 - p / peak * (height - 60)  # noqa: E731
    for i, c in enumerate(dens):
        d.rectangle([x(bins[i]) + 1, y(c), x(bins[i + 1]) - 1, y(0)], fill=(120, 150, 210))
    mu, sigma = math.log10(SIIM_TARGETS["area_p50"]), 1.12 / math.log(10)
    xs = np.linspace(lo, hi, 200)
    pdf = np.exp(-0.5 * ((xs - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    d.line([(x(a), y(b)) for a, b in zip(xs, pdf)], fill=(200, 30, 30), width=2)
    for k in ("area_p5", "area_p25", "area_p50", "area_p75", "area_p95"):
        xv = x(math.log10(SIIM_TARGETS[k]))
        d.line([(xv, y(0)), (xv, y(0) + 8)], fill=(200, 30, 30), width=2)
    d.line([(x(lo), y(0)), (x(hi), y(0))], fill=(0, 0, 0))
    for e in range(3, 6):
        d.text((x(e) - 8, y(0) + 10), f"1e{e}", fill=(0, 0, 0))
    title = "mask area at 1024^2 (px, log): phantoms (bars) vs SIIM fit (red line, percentile ticks)"
    d.text((45, 8), title, fill=(0, 0, 0))
    return img


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    stats, areas = label_stats(args.n, args.seed)
    label_s = time.perf_counter() - t0
    result = {
        "n_positive_masks": args.n,
        "size": 1024,
        "stats": {k: round(v, 4) for k, v in stats.items()},
        "targets": {k: v for k, v in SIIM_TARGETS.items() if k in stats},
        "ratio": {k: round(stats[k] / SIIM_TARGETS[k], 3) for k in stats},
        "positive_rate": "exact by construction: round(n * rate) of n images (default rate 0.22)",
        "mask_sampling_ms": round(1e3 * label_s / args.n, 1),
    }
    if not args.no_speed:
        result["speed"] = speed()
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    mont = montage(args.seed)
    hist = histogram(areas)
    fig = Image.new("RGB", (max(mont.width, hist.width), mont.height + hist.height), (255, 255, 255))
    fig.paste(mont, (0, 0))
    fig.paste(hist, (0, mont.height))
    fig.save(out_dir / "phantom_stats.png")
    docs = ROOT / "resources" / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    small = mont.resize((mont.width * 3 // 4, mont.height * 3 // 4), Image.LANCZOS)
    small.save(docs / "phantom_examples.png", optimize=True)
    result["figures"] = [str(out_dir / "phantom_stats.png"), str(docs / "phantom_examples.png")]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
