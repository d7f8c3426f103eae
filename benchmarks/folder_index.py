"""Folder index speed: cold scan against a bare pydicom header loop, warm (cached) reopen. Prints one JSON object.

Indexes a folder of DICOMs (`--folder`, e.g. one from `pneumoviewer demo-data --n 12000 --size 1024 OUT`; else N
SIIM-like 1024² JPEG Baseline files written in the SIIM layout <study>/<series>/<uid>.dcm to a temporary folder)
and times, in one process, round after round (so that load on the machine hits both sides alike):
- bare: `pydicom.dcmread(path, stop_before_pixels=True)` over the same files (what the goal is measured against);
- cold: `scan_folder` with an empty index cache (a folder opened for the first time: walk, headers, cache write);
- warm: `scan_folder` again with its cache (reopening an unchanged folder), and its floor: one `os.stat` of every
  file and folder, the calls a warm scan cannot skip (a file rewritten in place changes only its own stat);
- cold disk (`--disk`, Linux): the files' pages dropped from the OS cache first (posix_fadvise DONTNEED).
Medians of `--rounds`. Goals (issue 13): cold ≥ 0.8× the bare loop, warm ≤ 0.2 s at 12,000 files.

    .venv/bin/python benchmarks/folder_index.py [--n 1000] [--rounds 3] [--folder DIR] [--disk]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from _harness import isolated_env, load_avg, machine

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


class _Heartbeat:
    """A thread ticking every 5 ms, as the GUI thread would while the scan thread works: the longest gap between
    ticks is the longest the scan held the GIL (what a window would feel as a stall)."""

    def __init__(self) -> None:
        self.gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(0.005):
            now = time.perf_counter()
            self.gap = max(self.gap, now - last)
            last = now

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="files to write when no --folder is given")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", type=Path, help="index this folder (read only) instead of writing one")
    parser.add_argument("--disk", action="store_true", help="also time a cold scan with the page cache dropped")
    args = parser.parse_args()
    load0 = load_avg()

    work = Path(tempfile.mkdtemp(prefix="pv-bench-index-"))
    os.environ.update(isolated_env(work))
    import pydicom

    from pneumoviewer.io.folder import cache_path, iter_candidate_files, scan_folder

    write_s = 0.0
    if args.folder is not None:
        root = args.folder.resolve()
        layout = f"given folder {root.name}"
    else:
        root = work / "dicom-images-train"
        t0 = time.perf_counter()
        write_tree(root, args.n)
        write_s = time.perf_counter() - t0
        layout = "SIIM: <study>/<series>/<uid>.dcm, JPEG Baseline 8-bit 1024²"
    paths = [str(p) for p, _st, ignored in iter_candidate_files(root) if not ignored]
    folders = [str(root), *(d for d, _sub, _files in os.walk(root) if d != str(root))]
    size_mb = sum(os.stat(p).st_size for p in paths) / 1e6
    # a folder being reopened was not written in the last seconds: the index trusts a cached folder listing only
    # when the folder was last modified >2 s before it was listed (changes within one timestamp tick are invisible)
    newest = max(os.stat(d).st_mtime for d in folders)
    time.sleep(max(0.0, newest + 2.5 - time.time()))

    def bare() -> None:
        for p in paths:
            pydicom.dcmread(p, stop_before_pixels=True)

    def stat_floor() -> None:
        for p in paths:
            os.stat(p)
        for d in folders:
            os.stat(d)

    bare_s, cold, warm, floor = [], [], [], []
    images = 0
    for _ in range(args.rounds):
        bare_s.append(_timed(bare))
        cache_path(root).unlink(missing_ok=True)
        t0 = time.perf_counter()
        index = scan_folder(root)
        cold.append(time.perf_counter() - t0)
        images = len(index.images)
        t0 = time.perf_counter()
        again = scan_folder(root)
        warm.append(time.perf_counter() - t0)
        assert again.from_cache == len(paths) and len(again.images) == images
        floor.append(_timed(stat_floor))
    bare_med, cold_s, warm_s = statistics.median(bare_s), statistics.median(cold), statistics.median(warm)
    # the longest GIL hold of a scan in a worker thread (the GUI's scan thread), cold and warm
    cache_path(root).unlink(missing_ok=True)
    beats = []
    for _ in ("cold", "warm"):
        with _Heartbeat() as beat:
            worker = threading.Thread(target=scan_folder, args=(root,))
            worker.start()
            worker.join()
        beats.append(beat.gap)
    with _Heartbeat() as alone:  # the same-run baseline: gaps the machine's load alone causes
        time.sleep(max(0.5, warm_s))

    disk = []
    if args.disk and hasattr(os, "posix_fadvise"):
        for _ in range(args.rounds):
            for p in paths:
                fd = os.open(p, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            disk.append(_timed(lambda: scan_folder(root, use_cache=False)))
    n = len(paths)
    print(json.dumps({
        "benchmark": "folder_index",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        **machine(load0),
        "python": platform.python_version(),
        "files": n,
        "images": images,
        "folders": len(folders),
        "total_mb": round(size_mb, 1),
        "layout": layout,
        "bare_pydicom_header_loop_s": round(bare_med, 3),
        "bare_files_per_s": round(n / bare_med),
        "cold_s": round(cold_s, 3),
        "cold_files_per_s": round(n / cold_s),
        "cold_vs_bare": round(bare_med / cold_s, 2),
        "goal_cold_vs_bare": 0.8,
        "cold_disk_files_per_s": round(n / statistics.median(disk)) if disk else None,
        "warm_s": round(warm_s, 4),
        "warm_stat_floor_s": round(statistics.median(floor), 4),
        "warm_speedup": round(cold_s / warm_s, 1),
        "longest_gil_hold_ms": {"cold": round(beats[0] * 1000, 1), "warm": round(beats[1] * 1000, 1),
                                "no_scan_baseline": round(alone.gap * 1000, 1),
                                "heartbeat_ms": 5},
        "goal_warm_s_at_12k": 0.2,
        "cache_bytes": cache_path(root).stat().st_size,
        "rounds": {"bare_s": [round(x, 3) for x in bare_s], "cold_s": [round(x, 3) for x in cold],
                   "warm_s": [round(x, 4) for x in warm]},
        "write_s": round(write_s, 1),
    }, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
