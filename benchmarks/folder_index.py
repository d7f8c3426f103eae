"""Folder index speed on SIIM-like files: cold files/s, warm (cached) speed-up. Prints one JSON object.

Writes N SIIM-like 1024² JPEG Baseline files in the SIIM layout (<study>/<series>/<uid>.dcm, one image per study)
to a temporary folder, then times `scan_folder`:
- cold: empty index cache (the first time a folder is opened), median of `--rounds`;
- warm: the same folder again with its cache (re-opening an unchanged folder);
- cold disk: the files' pages dropped from the OS cache first (posix_fadvise DONTNEED; Linux), no index cache;
- reference: a bare `pydicom.dcmread(stop_before_pixels=True)` loop over the same files.
The files were just written, so the OS page cache is warm in every case (this measures our CPU cost; from a
cold disk the first scan is slower and the speed-up larger).

    python benchmarks/folder_index.py [--n 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from _harness import isolated_env

warnings.simplefilter("ignore")


def write_tree(root: Path, n: int) -> list[Path]:
    """N SIIM-like files; one JPEG-encoded film re-used with fresh UIDs (writing is not what we measure)."""
    from pydicom.uid import generate_uid

    from pneumoviewer.io.dicom.write import build_dataset, encode_jpeg_baseline
    from pneumoviewer.phantom import SIIM_DEFAULTS, chest_like

    ds = encode_jpeg_baseline(build_dataset(chest_like(1024), attrs=SIIM_DEFAULTS))
    paths = []
    for k in range(n):
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.PatientID = f"anon-{k:06d}"
        ds.PatientAge = str(20 + k % 60)
        ds.PatientSex = "MF"[k % 2]
        view = ("PA", "AP")[k % 3 == 0]
        ds.ViewPosition = view
        ds.SeriesDescription = f"view: {view}"
        folder = root / ds.StudyInstanceUID / ds.SeriesInstanceUID
        folder.mkdir(parents=True)
        path = folder / f"{uid}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pv-bench-index-"))
    os.environ.update(isolated_env(work))
    import pydicom

    from pneumoviewer.io.folder import cache_path, scan_folder

    root = work / "dicom-images-train"
    t0 = time.perf_counter()
    paths = write_tree(root, args.n)
    write_s = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    # a folder being re-opened was not written in the last seconds; the index only trusts a cached folder listing
    # whose folder was last modified >2 s before it was listed (changes within one timestamp tick are invisible)
    time.sleep(2.5)

    t0 = time.perf_counter()
    for p in paths:
        pydicom.dcmread(p, stop_before_pixels=True)
    bare_s = time.perf_counter() - t0

    cold, warm = [], []
    for _ in range(args.rounds):
        cache_path(root).unlink(missing_ok=True)
        t0 = time.perf_counter()
        index = scan_folder(root)
        cold.append(time.perf_counter() - t0)
        assert len(index.images) == args.n and not index.failures
        t0 = time.perf_counter()
        again = scan_folder(root)
        warm.append(time.perf_counter() - t0)
        assert again.from_cache == args.n
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)

    # first scan with the files' pages dropped from the OS cache (as after a reboot): reads go to the disk
    disk = []
    if hasattr(os, "posix_fadvise"):
        for _ in range(args.rounds):
            for p in paths:
                fd = os.open(p, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            t0 = time.perf_counter()
            scan_folder(root, use_cache=False)
            disk.append(time.perf_counter() - t0)
    print(json.dumps({
        "benchmark": "folder_index",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "files": args.n,
        "total_mb": round(size_mb, 1),
        "layout": "SIIM: <study>/<series>/<uid>.dcm, JPEG Baseline 8-bit 1024²",
        "cold_s": round(cold_s, 3),
        "cold_files_per_s": round(args.n / cold_s),
        "goal_cold_files_per_s": 1000,
        "cold_disk_files_per_s": round(args.n / statistics.median(disk)) if disk else None,
        "warm_s": round(warm_s, 4),
        "warm_files_per_s": round(args.n / warm_s),
        "warm_speedup": round(cold_s / warm_s, 1),
        "goal_warm_speedup": 10,
        "bare_pydicom_header_loop_files_per_s": round(args.n / bare_s),
        "cache_bytes": cache_path(root).stat().st_size,
        "rounds": args.rounds,
        "write_s": round(write_s, 1),
    }, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
