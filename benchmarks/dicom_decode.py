"""Open → display array vs the fastest bare pydicom decode, per transfer syntax. Prints one JSON object.

For every file: `bare` is the fastest installed pydicom decoding plugin timed as `dcmread` + `pixel_array(...,
decoding_plugin=p)` (the best any caller could do with pydicom); `ours` is `pneumoviewer.io.dicom.load_image`
(read, choose decoder, decode, modality → window → inversion → float32 display). The two run alternately, so both
see the same machine state. Goal: ratio ≤ 1.5.

Files: synthetic SIIM-like 1024² JPEG Baseline films, synthetic CR-like 12-bit MONOCHROME1 non-square films in each
lossless syntax, and pydicom's bundled grey-scale test files.

    python benchmarks/dicom_decode.py [--repeat 9] [--siim 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")


PYDICOM_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "JPEG2000.dcm",
    "JPGExtended.dcm",
    "693_J2KI.dcm",
    "examples_overlay.dcm",
]


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (imports, plugin discovery)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _fastest_plugin(path: Path) -> str:
    """The installed decoding plugin with the lowest median time on this file ('' for native data)."""
    import pydicom
    from pydicom.pixels import get_decoder, pixel_array

    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    decoder = get_decoder(ts)
    if decoder.is_native:
        return ""
    best = (float("inf"), "")
    for plugin in decoder.available_plugins:
        try:
            ms = _median_ms(lambda p=plugin: pixel_array(pydicom.dcmread(path), index=0, decoding_plugin=p), 3)
        except Exception:
            continue
        best = min(best, (ms, plugin))
    return best[1]


def _interleaved_ms(fns: list, repeat: int) -> list[float]:
    """Median ms of each function, run alternately so both see the same machine state (load, allocator)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) * 1000 for t in times]


def cr_like(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    img = 2500 + 1200 * np.sin(x / 90) * np.cos(y / 120) + rng.normal(0, 30, (rows, cols))
    img[: rows // 6] = 3900  # MONOCHROME1: air is high
    return np.clip(img, 0, 4095).astype(np.uint16)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--siim", type=int, default=3, help="how many SIIM-like 1024² films")
    args = parser.parse_args()
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import pixel_array
    from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

    from pneumoviewer.io.dicom import load_image
    from pneumoviewer.io.dicom.write import write_dicom
    from pneumoviewer.phantom import write_siim_like

    tmp = Path(tempfile.mkdtemp(prefix="pv-bench-decode-"))
    files: list[tuple[str, Path]] = []
    for k in range(args.siim):
        files.append((f"siim_like_1024_{k}", write_siim_like(tmp / f"siim{k}.dcm", size=1024, seed=k)))
    cr = cr_like(2000, 1600)
    for syntax in (ExplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless):
        path = write_dicom(tmp / f"cr-{syntax}.dcm", cr, transfer_syntax=syntax, photometric="MONOCHROME1",
                           bits_stored=12)
        files.append((f"cr_like_2000x1600_12bit_MONOCHROME1_{UID(syntax).keyword}", path))
    for name in PYDICOM_FILES:
        files.append((f"pydicom:{name}", Path(get_testdata_file(name, download=False))))

    rows = []
    for label, path in files:
        plugin = _fastest_plugin(path)
        bare_ms, ours_ms = _interleaved_ms(
            [lambda p=path, q=plugin: pixel_array(pydicom.dcmread(p), index=0, decoding_plugin=q),
             lambda p=path: load_image(p)],
            args.repeat,
        )
        meta = load_image(path).meta
        rows.append({
            "file": label,
            "transfer_syntax": UID(meta.transfer_syntax).name,
            "shape": [meta.rows, meta.columns],
            "bits_stored": meta.bits_stored,
            "bare_fastest_ms": round(bare_ms, 2),
            "bare_fastest_plugin": plugin or "native",
            "ours_open_to_display_ms": round(ours_ms, 2),
            "ratio": round(ours_ms / bare_ms, 3),
        })
    by_syntax: dict[str, list[float]] = {}
    for row in rows:
        by_syntax.setdefault(row["transfer_syntax"], []).append(row["ratio"])
    siim = [r for r in rows if r["file"].startswith("siim_like")]
    print(json.dumps({
        "benchmark": "dicom_decode",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "pydicom": pydicom.__version__,
        "repeat": args.repeat,
        "goal_ratio_max": 1.5,
        "siim_like_1024_jpeg_baseline": {
            "bare_ms": round(statistics.median(r["bare_fastest_ms"] for r in siim), 2),
            "ours_ms": round(statistics.median(r["ours_open_to_display_ms"] for r in siim), 2),
            "ratio": round(statistics.median(r["ratio"] for r in siim), 3),
        } if siim else None,
        "median_ratio_by_transfer_syntax": {k: round(statistics.median(v), 3) for k, v in by_syntax.items()},
        "worst_ratio": max(r["ratio"] for r in rows),
        "files": rows,
    }, indent=2))


if __name__ == "__main__":
    main()
