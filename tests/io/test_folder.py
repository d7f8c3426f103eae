"""pneumoviewer.io.folder: recursive header index, grouping, failures, progress, cancel, cache."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from pneumoviewer.core.types import Cancelled
from pneumoviewer.io import folder as folder_mod
from pneumoviewer.io.dicom.write import write_dicom
from pneumoviewer.io.folder import cache_path, scan_folder
from pneumoviewer.phantom import write_siim_like


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, object]:
    """A SIIM-style nested tree (2 studies; one with 2 series) plus the usual clutter."""
    root = tmp_path / "dicom-images-train"
    study_a, study_b = "1.2.3.100", "1.2.3.200"
    files = {
        "a1": write_siim_like(root / study_a / "1.2.3.101" / "a1.dcm", size=32, seed=1,
                              attrs={"StudyInstanceUID": study_a, "SeriesInstanceUID": "1.2.3.101",
                                     "PatientAge": "61", "PatientSex": "F", "SOPInstanceUID": "1.2.3.101.1"}),
        "a2": write_siim_like(root / study_a / "1.2.3.101" / "a2.dcm", size=32, seed=2,
                              attrs={"StudyInstanceUID": study_a, "SeriesInstanceUID": "1.2.3.101",
                                     "PatientAge": "061Y", "SOPInstanceUID": "1.2.3.101.2"}),
        "a3": write_siim_like(root / study_a / "1.2.3.102" / "a3.dcm", size=32, seed=3,
                              attrs={"StudyInstanceUID": study_a, "SeriesInstanceUID": "1.2.3.102",
                                     "ViewPosition": "", "SeriesDescription": "view: AP",
                                     "SOPInstanceUID": "1.2.3.102.1"}),
        "b1": write_dicom(root / study_b / "1.2.3.201" / "b1.dcm",
                          np.arange(40 * 24, dtype=np.uint16).reshape(40, 24), bits_stored=12,
                          attrs={"StudyInstanceUID": study_b, "SeriesInstanceUID": "1.2.3.201",
                                 "PatientAge": "004M", "SOPInstanceUID": "1.2.3.201.1"}),
    }
    (root / "notes.bin").write_bytes(b"not dicom at all" * 20)  # a failure: unknown file, not DICOM
    (root / "train-rle.csv").write_text("ImageId,EncodedPixels\n")  # ignored: obviously not DICOM
    shutil.copy(get_testdata_file("test-SR.dcm", download=False), root / study_b / "report.dcm")  # not an image
    data = files["b1"].read_bytes()
    (root / study_b / "trunc.dcm").write_bytes(data[: len(data) - 100])
    shutil.copy(files["a1"], root / study_b / "copy-of-a1.dcm")  # same SOPInstanceUID twice
    hidden = root / ".pneumoviewer"
    hidden.mkdir()
    shutil.copy(files["a1"], hidden / "cached.dcm")  # hidden folders are never indexed
    return {"root": root, "files": files}


def test_scan_groups_and_reports_failures(tree: dict[str, object]) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    index = scan_folder(root, use_cache=False)
    assert index.root == root.resolve()
    assert sorted(img.path.name for img in index.images) == ["a1.dcm", "a2.dcm", "a3.dcm", "b1.dcm"]
    studies = index.studies()
    assert set(studies) == {"1.2.3.100", "1.2.3.200"}
    assert {k: len(v) for k, v in studies["1.2.3.100"].items()} == {"1.2.3.101": 2, "1.2.3.102": 1}
    assert [img.path.name for img in studies["1.2.3.200"]["1.2.3.201"]] == ["b1.dcm"]
    reasons = {f.path.name: f.reason for f in index.failures}
    assert set(reasons) == {"notes.bin", "report.dcm", "trunc.dcm", "copy-of-a1.dcm"}
    assert "not a DICOM file" in reasons["notes.bin"]
    assert "not an image" in reasons["report.dcm"]
    assert "truncated" in reasons["trunc.dcm"]
    assert "duplicate" in reasons["copy-of-a1.dcm"]
    assert [p.name for p in index.ignored] == ["train-rle.csv"]
    a3 = index.by_id("1.2.3.102.1")
    assert a3 is not None and a3.meta.view_position == "AP"
    assert index.by_id("nope") is None
    assert index.by_id("1.2.3.101.1").path.name == "a1.dcm"  # the first one wins over its duplicate


def test_summary(tree: dict[str, object]) -> None:
    summary = scan_folder(tree["root"], use_cache=False).summary()  # type: ignore[arg-type]
    assert summary["images"] == 4 and summary["studies"] == 2 and summary["series"] == 3
    assert summary["failures"] == 4 and summary["ignored"] == 1
    assert summary["views"] == {"PA": 2, "AP": 1, "unknown": 1}
    assert summary["sexes"] == {"M": 2, "F": 1, "unknown": 1}
    assert summary["age_range"] == [0, 61]
    assert summary["sizes"] == {"32x32": 3, "24x40": 1}
    assert summary["transfer_syntaxes"] == {"JPEG Baseline (Process 1)": 3, "Explicit VR Little Endian": 1}
    assert {f["path"] for f in summary["failure_reasons"]} == {
        "notes.bin", "1.2.3.200/report.dcm", "1.2.3.200/trunc.dcm", "1.2.3.200/copy-of-a1.dcm"}


def test_progress_is_monotonic_and_complete(tree: dict[str, object]) -> None:
    calls: list[tuple[int, int]] = []
    items: list[object] = []
    index = scan_folder(tree["root"], progress=lambda d, t: calls.append((d, t)), use_cache=False,  # type: ignore[arg-type]
                        on_item=items.append)
    total = 8  # 4 images + 4 failures; the CSV and hidden files are not candidates
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert items == sorted([*index.images, *index.failures], key=lambda i: str(i.path))


def test_cancel_with_event_and_callable(tree: dict[str, object]) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    event = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 2:
            event.set()

    with pytest.raises(Cancelled):
        scan_folder(root, progress=progress, cancel=event)
    # what was read before the cancel is cached, so the next scan resumes
    index = scan_folder(root)
    assert 1 <= index.from_cache < 8 and len(index.images) == 4
    with pytest.raises(Cancelled):
        scan_folder(root, cancel=lambda: True, use_cache=False)


def test_cache_makes_rescans_read_nothing(tree: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    first = scan_folder(root)
    assert first.from_cache == 0
    assert cache_path(root).is_file()
    assert str(cache_path(root)).startswith(os.environ["PNEUMOVIEWER_CACHE"])

    reads: list[str] = []
    real = folder_mod.read_header
    monkeypatch.setattr(folder_mod, "read_header", lambda p: reads.append(str(p)) or real(p))
    second = scan_folder(root)
    assert reads == [] and second.from_cache == 8
    assert [i.meta for i in second.images] == [i.meta for i in first.images]
    assert [(f.path, f.reason) for f in second.failures] == [(f.path, f.reason) for f in first.failures]

    # a changed file (size/mtime) is read again; a deleted one disappears; a new one appears
    files: dict[str, Path] = tree["files"]  # type: ignore[assignment]
    write_siim_like(files["a2"], size=48, seed=9, attrs={"SOPInstanceUID": "1.2.3.101.2", "PatientAge": "070Y"})
    files["b1"].unlink()
    write_siim_like(root / "new" / "n.dcm", size=32, attrs={"SOPInstanceUID": "9.9.9"})
    third = scan_folder(root)
    assert sorted(Path(r).name for r in reads) == ["a2.dcm", "n.dcm"]
    assert third.by_id("1.2.3.101.2").meta.rows == 48
    assert third.by_id("1.2.3.201.1") is None and third.by_id("9.9.9") is not None

    reads.clear()
    scan_folder(root, use_cache=False)
    assert len(reads) == 8  # a1 a2 a3 n + 4 failures


def test_damaged_cache_is_ignored(tree: dict[str, object]) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    scan_folder(root)
    cache_path(root).write_text("{ this is not json")
    index = scan_folder(root)
    assert index.from_cache == 0 and len(index.images) == 4
    assert scan_folder(root).from_cache == 8  # rewritten


def test_single_file_and_missing_folder(tree: dict[str, object], tmp_path: Path) -> None:
    files: dict[str, Path] = tree["files"]  # type: ignore[assignment]
    one = scan_folder(files["a1"])
    assert len(one.images) == 1 and one.images[0].meta.image_id == "1.2.3.101.1"
    with pytest.raises(FileNotFoundError):
        scan_folder(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    index = scan_folder(empty)
    assert index.images == [] and index.failures == [] and index.summary()["images"] == 0


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "old-format"])
def test_a_damaged_cache_is_read_afresh_and_rewritten(tree: dict[str, object], damage: str) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    first = scan_folder(root)
    data = bytearray(cache_path(root).read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40  # one bit anywhere: the checksum notices
    elif damage == "truncate":
        del data[len(data) * 2 // 3 :]
    elif damage == "empty":
        data.clear()
    else:
        data[:] = b'{"version": 5, "entries": {}}'
    cache_path(root).write_bytes(bytes(data))
    again = scan_folder(root)
    assert again.from_cache == 0
    assert [(i.path, i.meta) for i in again.images] == [(i.path, i.meta) for i in first.images]
    assert scan_folder(root).from_cache == 8  # rewritten


def test_a_cache_naming_other_code_is_refused(tree: dict[str, object], tmp_path: Path) -> None:
    """A cache file is unpickled with no class or function allowed: one that names a function is ignored, never
    run."""
    import pickle

    root: Path = tree["root"]  # type: ignore[assignment]
    scan_folder(root)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):  # unpickling would call os.mkdir(marker)
            return (os.mkdir, (str(marker),))

    columns = (folder_mod._cache_header(root), {"rel": pickle.dumps([Evil()])})
    cache_path(root).write_bytes(folder_mod._MAGIC + folder_mod._pack(columns) + folder_mod._pack([]))
    index = scan_folder(root)
    assert not marker.exists() and index.from_cache == 0 and len(index.images) == 4
    pickle.loads(columns[1]["rel"])  # the same pickle, unpickled freely, would have run it
    assert marker.exists()


def test_the_cache_keeps_every_field(tree: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ImageMeta field (those left out of == too: patient key, header digest) comes back from the cache."""
    from dataclasses import fields

    root: Path = tree["root"]  # type: ignore[assignment]
    _backdate(root)  # folders written just now are listed again until they are 2 s old
    first = scan_folder(root)
    saves: list[int] = []
    real_save = folder_mod._save_cache
    monkeypatch.setattr(folder_mod, "_save_cache", lambda *a: saves.append(1) or real_save(*a))
    again = scan_folder(root)
    assert again.from_cache == 8 and saves == []  # nothing changed: nothing rewritten
    names = [f.name for f in fields(again.images[0].meta)]
    assert {"patient_key", "header_digest", "pixel_spacing", "synthetic_phantom"} <= set(names)
    for a, b in zip(first.images, again.images, strict=True):
        assert a.path == b.path
        assert [getattr(a.meta, n) for n in names] == [getattr(b.meta, n) for n in names]
    assert all(img.meta.header_digest for img in again.images)
    assert any(img.meta.pixel_spacing for img in again.images)
    assert isinstance(again.images[0].meta.pixel_spacing, tuple | type(None))


def _backdate(root: Path, seconds: float = 3600) -> None:
    """Make every folder look last modified an hour ago (as for any folder not being written to)."""
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        st = folder.stat()
        os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_unchanged_folders_are_not_listed_again(tree: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    _backdate(root)
    first = scan_folder(root)
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: listed.append(str(p)) or real_scandir(p))
    second = scan_folder(root)
    assert listed == [] and second.from_cache == 8
    assert [i.path for i in second.images] == [i.path for i in first.images]
    assert second.ignored == first.ignored

    # a file added to (or removed from) a folder changes that folder's mtime: it alone is listed again
    series = root / "1.2.3.200" / "1.2.3.201"
    write_siim_like(series / "b2.dcm", size=32, attrs={"SOPInstanceUID": "1.2.3.201.2"})
    third = scan_folder(root)
    assert listed == [str(series)]
    assert third.by_id("1.2.3.201.2") is not None and len(third.images) == 5
    (root / "notes.bin").unlink()
    before = len(listed)
    fourth = scan_folder(root)
    assert "notes.bin" not in {f.path.name for f in fourth.failures}
    # the root changed; the just-written series folder is too fresh to trust (same-tick changes are invisible)
    assert set(listed[before:]) == {str(root), str(series)}


def test_an_unchanged_tree_still_notices_a_file_rewritten_in_place(tree: dict[str, object],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No folder changed, so none is listed again, yet every file is stat'ed: one rewritten in place is read."""
    root: Path = tree["root"]  # type: ignore[assignment]
    files: dict[str, Path] = tree["files"]  # type: ignore[assignment]
    _backdate(root)
    scan_folder(root)
    series = files["a2"].parent
    series_mtime = series.stat().st_mtime_ns
    write_siim_like(files["a2"], size=48, seed=9, attrs={"SOPInstanceUID": "1.2.3.101.2", "PatientAge": "070Y"})
    assert series.stat().st_mtime_ns == series_mtime  # rewritten, not re-created: its folder did not change
    listed: list[str] = []
    reads: list[str] = []
    real_scandir, real_read = os.scandir, folder_mod.read_header
    monkeypatch.setattr(os, "scandir", lambda p: listed.append(str(p)) or real_scandir(p))
    monkeypatch.setattr(folder_mod, "read_header", lambda p: reads.append(str(p)) or real_read(p))
    again = scan_folder(root)
    assert listed == [] and reads == [str(files["a2"])] and again.from_cache == 7
    assert again.by_id("1.2.3.101.2").meta.rows == 48 and again.by_id("1.2.3.101.2").meta.patient_age == 70
    assert [p.name for p in again.ignored] == ["train-rle.csv"] and len(again.failures) == 4
    third = scan_folder(root)
    assert listed == [] and third.from_cache == 8 and third.by_id("1.2.3.101.2").meta.rows == 48


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_an_unchanged_tree_drops_a_link_whose_file_is_gone(tree: dict[str, object], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A symlinked file whose target disappears leaves its folder's mtime as it was: the unchanged-tree scan finds
    it gone by its stat, and the other files still come from the cache."""
    root: Path = tree["root"]  # type: ignore[assignment]
    outside = write_siim_like(tmp_path / "elsewhere" / "x.dcm", size=32, attrs={"SOPInstanceUID": "7.7.7"})
    (root / "linked.dcm").symlink_to(outside)
    _backdate(root)
    assert scan_folder(root).by_id("7.7.7") is not None
    outside.unlink()
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: listed.append(str(p)) or real_scandir(p))
    again = scan_folder(root)
    assert listed == [] and again.by_id("7.7.7") is None
    assert len(again.images) == 4 and again.from_cache == 8


def test_phantom_dataset_indexes_and_loads(phantom_dataset) -> None:
    """The project's SIIM-layout phantom: every image indexed, the CSV skipped, every image displayable."""
    from pneumoviewer.io.dicom import load_image

    index = scan_folder(phantom_dataset.root)
    assert sorted(img.image_id for img in index.images) == sorted(phantom_dataset.image_ids)
    assert index.failures == [] and [p.name for p in index.ignored] == ["train-rle.csv"]
    for img in index.images:
        assert img.path.relative_to(phantom_dataset.dicom_dir).parts[-1] == f"{img.image_id}.dcm"
        meta = img.meta
        assert meta.photometric == "MONOCHROME2" and meta.bits_stored == 8 and meta.view_position in ("PA", "AP")
        image = load_image(img.path)
        assert image.meta == meta and image.display.shape == (meta.rows, meta.columns)
        assert 0.0 <= float(image.display.min()) < 0.05 and 0.95 < float(image.display.max()) <= 1.0


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is POSIX only; elsewhere a no-op")
def test_prefetch_turns_on_only_when_reads_block(tree: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    files = [str(p) for p in (tree["root"]).rglob("*.dcm")]  # type: ignore[union-attr]
    switches = iter([0, 2 * folder_mod._Prefetcher.PROBE])  # every probed read blocked: I/O bound
    blocking = folder_mod._Prefetcher(files)
    monkeypatch.setattr(blocking, "_usage", lambda: next(switches))
    for _ in range(folder_mod._Prefetcher.PROBE + 1):
        blocking.before_read()
    assert blocking._on
    advised: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, off, n, advice: advised.append(n))
    blocking.ahead_of(0)
    assert len(advised) == min(len(files) - 1, folder_mod._Prefetcher.DEPTH - 1)
    in_memory = folder_mod._Prefetcher(files)
    monkeypatch.setattr(in_memory, "_usage", lambda: 5)  # never waited
    for _ in range(folder_mod._Prefetcher.PROBE + 3):
        in_memory.before_read()
    in_memory.ahead_of(0)
    assert not in_memory._on and len(advised) == min(len(files) - 1, folder_mod._Prefetcher.DEPTH - 1)
