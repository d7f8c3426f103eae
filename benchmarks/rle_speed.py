"""SIIM RLE codec speed on realistic masks (phantom pneumothorax masks at 1024²) vs straightforward references.

The references are written here for comparison in the organisers' style: a per-pixel Python loop to encode
(column-major walk) and a per-run Python loop with slice assignment to decode. Prints one JSON object.

    .venv/bin/python benchmarks/rle_speed.py [--n 60]

(Not named rle.py: a script directory comes first on sys.path, and pylibjpeg-rle installs a top-level `rle`.)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pneumoviewer.io.rle import decode, encode
from pneumoviewer.phantom import sample_instances


def reference_encode(mask: np.ndarray) -> str:
    """Per-pixel walk in column-major order (like the organisers' mask2rle, but keeping a final run)."""
    h, w = mask.shape
    out: list[str] = []
    last = False
    run_start = -1
    run_len = 0
    pos = 0
    for x in range(w):
        for y in range(h):
            cur = bool(mask[y, x])
            if cur != last:
                if cur:
                    run_start, run_len = pos, 1
                else:
                    out += [str(run_start), str(run_len)]
                    run_start, pos = -1, 0
            elif run_start > -1:
                run_len += 1
            last = cur
            pos += 1
    if run_start > -1:
        out += [str(run_start), str(run_len)]
    return " ".join(out) if out else "-1"


def reference_decode(rle: str, height: int, width: int) -> np.ndarray:
    """Per-run loop with slice assignment (the organisers' rle2mask), returned in image orientation."""
    flat = np.zeros(width * height, dtype=bool)
    if rle.strip() != "-1":
        arr = np.asarray([int(x) for x in rle.split()])
        pos = 0
        for start, length in zip(arr[0::2], arr[1::2]):
            pos += start
            flat[pos : pos + length] = True
            pos += length
    return flat.reshape(width, height).T


def _time(fn, reps: int) -> float:
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return float(np.median(best)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="number of phantom masks")
    ap.add_argument("--ref-n", type=int, default=5, help="masks for the slow per-pixel reference encoder")
    args = ap.parse_args()
    masks = []
    for i in range(args.n):
        m = np.zeros((1024, 1024), dtype=bool)
        for inst in sample_instances(np.random.SeedSequence([2024, i]), 1024):
            m |= inst
        masks.append(m)
    strings = [encode(m) for m in masks]
    for m, s in zip(masks[: args.ref_n], strings):
        assert reference_encode(m) == s
        assert (decode(s, 1024, 1024) == m).all() and (reference_decode(s, 1024, 1024) == m).all()
    enc = [_time(lambda m=m: encode(m), 30) for m in masks]
    dec = [_time(lambda s=s: decode(s, 1024, 1024), 30) for s in strings]
    ref_dec = [_time(lambda s=s: reference_decode(s, 1024, 1024), 10) for s in strings]
    ref_enc = [_time(lambda m=m: reference_encode(m), 1) for m in masks[: args.ref_n]]
    empty = np.zeros((1024, 1024), dtype=bool)
    full = np.ones((1024, 1024), dtype=bool)
    areas = [int(m.sum()) for m in masks]
    result = {
        "masks": args.n,
        "size": "1024x1024 bool, C-contiguous (image orientation)",
        "area_median_px": int(np.median(areas)),
        "runs_median": int(np.median([len(s.split()) // 2 for s in strings])),
        "encode_ms_median": round(float(np.median(enc)), 3),
        "encode_ms_p95": round(float(np.percentile(enc, 95)), 3),
        "decode_ms_median": round(float(np.median(dec)), 3),
        "decode_ms_p95": round(float(np.percentile(dec, 95)), 3),
        "reference_encode_ms_median": round(float(np.median(ref_enc)), 1),
        "reference_decode_ms_median": round(float(np.median(ref_dec)), 3),
        "encode_speedup": round(float(np.median(ref_enc) / np.median(enc[: args.ref_n])), 0),
        "decode_speedup": round(float(np.median(ref_dec) / np.median(dec)), 1),
        "encode_ms_empty": round(_time(lambda: encode(empty), 50), 3),
        "encode_ms_full": round(_time(lambda: encode(full), 20), 3),
        "outputs_identical_to_reference": True,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
