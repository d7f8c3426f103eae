"""The review store never loses work silently: damaged files, newer versions, folders, full disks, read-only
folders, two instances, read-only uses (issue 11), the source identity and bulk readers (issues 11, 13)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.core.types import MaskLayer, ModelInfo, Prediction, ReviewStatus, SourceIdentity
from pneumoviewer.io import rle
from pneumoviewer.review import schema
from pneumoviewer.review.store import (
    STORE_DIRNAME,
    STORE_FILENAME,
    ReviewStore,
    StoreIssue,
    StoreNotFoundError,
    StoreReadOnlyError,
    StoreUnreadableError,
    StoreWriteError,
    existing_store_path,
)

MODEL = ModelInfo("demo-unet", "2026.1", synthetic=True)


def _box(shape=(64, 80), box=(5, 20, 10, 30)):
    m = np.zeros(shape, bool)
    m[box[0] : box[1], box[2] : box[3]] = True
    return m


def _store_file(folder: Path) -> Path:
    return folder.resolve() / STORE_DIRNAME / STORE_FILENAME


def _filled_store(folder: Path, n: int = 200) -> Path:
    """A closed store with `n` reviewed images (several pages, so a page can be damaged)."""
    with ReviewStore.open(folder) as store:
        store.register_images([(f"img{i:04d}", 64, 80) for i in range(n)])
        for i in range(n):
            store.set_status(f"img{i:04d}", ReviewStatus.FLAGGED, comment=f"look at the apex, case {i} " * 4)
        return store.path


# ------------------------------------------------------------------------------------------ damaged files


def _garbage_header(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 200)
    path.with_name(path.name + "-wal").write_bytes(b"stale wal")
    path.with_name(path.name + "-shm").write_bytes(b"stale shm")


def _malformed_page(path: Path) -> None:
    _filled_store(path.parent.parent)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page : 2 * page + 200] = b"\xff" * 200  # a b-tree page's header and cell pointers
    path.write_bytes(bytes(data))


def _zero_bytes(path: Path) -> None:
    _filled_store(path.parent.parent, n=3)
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_garbage_header, _malformed_page, _zero_bytes], ids=["header", "page", "empty"])
def test_damaged_store_is_moved_aside_and_a_new_store_starts(tmp_path, damage):
    path = _store_file(tmp_path)
    damage(path)
    damaged_bytes = path.read_bytes()
    had_wal = path.with_name(path.name + "-wal").exists()
    with ReviewStore.open(tmp_path) as store:
        out = store.outcome
        assert out.reason is StoreIssue.DAMAGED and not out.read_only
        assert out.moved_aside_to is not None and out.moved_aside_to.name.startswith("review.sqlite.corrupt-")
        assert out.moved_aside_to.name in out.message and "damaged" in out.message
        assert out.moved_aside_to.read_bytes() == damaged_bytes  # kept, byte for byte, for a rescue attempt
        if had_wal:
            assert out.moved_aside_to.with_name(out.moved_aside_to.name + "-wal").read_bytes() == b"stale wal"
            assert out.moved_aside_to.with_name(out.moved_aside_to.name + "-shm").read_bytes() == b"stale shm"
        assert len(store) == 0
        store.set_status("new", ReviewStatus.NEGATIVE)  # a store to write again
    with ReviewStore.open(tmp_path) as store:
        assert store.outcome.reason is None and store.status("new") is ReviewStatus.NEGATIVE


def test_store_path_that_is_a_folder_opens_read_only_and_empty(tmp_path):
    path = _store_file(tmp_path)
    path.mkdir(parents=True)
    (path / "keep.txt").write_text("someone's file")
    with ReviewStore.open(tmp_path) as store:
        assert store.read_only and store.outcome.reason is StoreIssue.NOT_A_FILE
        assert "is a folder" in store.outcome.message
        assert store.statuses() == {} and store.final_entries() == []
        with pytest.raises(StoreReadOnlyError, match="is a folder"):
            store.set_final_mask("a", _box())
        with pytest.raises(StoreReadOnlyError):
            store.mark_negative("a", shape=(8, 8))
    assert path.is_dir() and (path / "keep.txt").read_text() == "someone's file"


def test_read_only_store_refuses_every_write(tmp_path):
    path = _filled_store(tmp_path, n=2)
    before = path.read_bytes()
    with ReviewStore.open(tmp_path, read_only=True) as store:
        assert store.read_only and store.outcome.reason is None
        assert store.status("img0001") is ReviewStatus.FLAGGED
        writes = [
            lambda: store.set_status("img0001", ReviewStatus.ACCEPTED),
            lambda: store.set_final_mask("img0001", _box()),
            lambda: store.set_ai_result(Prediction("img0001", 0.5, _box(), MODEL)),
            lambda: store.register_images([("x", 8, 8)]),
            lambda: store.set_position("img0001"),
        ]
        for write in writes:
            with pytest.raises(StoreReadOnlyError):
                write()
        assert store.unsaved() == []  # refused, not queued
    assert path.read_bytes() == before


# ------------------------------------------------------------------------------------------ full disk


def _fill_limit(store: ReviewStore) -> None:
    """Make the database unable to grow (SQLITE_FULL, exactly what a full disk gives)."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_write_error_keeps_every_change_in_order_for_a_retry(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.random((256, 256)) > 0.5  # an RLE of ~100 kB: needs new pages
    later = _box((256, 256), (10, 100, 10, 100))
    with ReviewStore.open(tmp_path) as store:
        store.register_image("img", 256, 256)
        _fill_limit(store)
        kept = noisy.copy()
        with pytest.raises(StoreWriteError, match="could not save") as err:
            store.set_final_mask("img", kept)
        assert err.value.unsaved == 1
        kept[:] = False  # the caller's array changes: the kept change must not
        with pytest.raises(StoreWriteError) as err:  # queued behind the first, never reordered
            store.set_status("other", ReviewStatus.FLAGGED, comment="second look")
        assert err.value.unsaved == 2
        with pytest.raises(StoreWriteError):
            store.set_final_mask("img", later)
        assert store.unsaved() == ["set_final_mask(img)", "set_status(other)", "set_final_mask(img)"]
        with pytest.raises(StoreWriteError, match="still cannot save"):
            store.close()  # closing does not drop them either
        assert store.unsaved() and store.final_mask("img") is None
        store._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        assert store.retry_unsaved() == 3
        assert store.unsaved() == []
        journal = [j["action"] for j in store.journal(limit=3)]
        assert journal == ["final", "status", "final"]  # written in the order they were made
    with ReviewStore.open(tmp_path) as store:
        assert np.array_equal(store.final_mask("img"), later)
        assert store.status("other") is ReviewStatus.FLAGGED and store.comment("other") == "second look"
        first = [j for j in store.journal("img") if j["action"] == "final"][-1]
        assert json.loads(first["detail"])["pixels"] == int(noisy.sum())


def test_write_error_then_next_write_succeeds_once_space_returns(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        store.register_image("img", 256, 256)
        _fill_limit(store)
        with pytest.raises(StoreWriteError):
            store.set_final_mask("img", np.random.default_rng(1).random((256, 256)) > 0.5)
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        store.mark_negative("img")  # flushes the kept mask first, then this one: the newest wins
        assert store.unsaved() == [] and store.status("img") is ReviewStatus.NEGATIVE
        assert not store.final_mask("img").any()


# ------------------------------------------------------------------------------------------ two instances

_HOLDER = textwrap.dedent(
    """
    import sys
    from pneumoviewer.core.types import ReviewStatus
    from pneumoviewer.review.store import ReviewStore
    store = ReviewStore.open(sys.argv[1])
    assert not store.read_only, store.outcome
    store.set_status("from-holder", ReviewStatus.FLAGGED, comment="mine")
    print("ready", flush=True)
    sys.stdin.readline()
    store.close()
    """
)


def _start_holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PNEUMOVIEWER_REVIEWER": "dr-holder"},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_second_instance_opens_read_only_and_is_told_who_holds_the_store(tmp_path):
    proc = _start_holder(tmp_path)
    try:
        before = time.time()
        with ReviewStore.open(tmp_path) as second:
            out = second.outcome
            assert second.read_only and out.reason is StoreIssue.LOCKED
            assert out.holder is not None
            assert (out.holder.pid, out.holder.user, out.holder.host) == (proc.pid, "dr-holder", socket.gethostname())
            assert out.holder.since <= before
            assert "dr-holder" in out.message and str(proc.pid) in out.message
            assert second.status("from-holder") is ReviewStatus.FLAGGED  # the holder's work is shown
            with pytest.raises(StoreReadOnlyError, match="in use by dr-holder"):
                second.set_status("from-holder", ReviewStatus.ACCEPTED)
    finally:
        proc.communicate("done\n", timeout=60)
    assert proc.returncode == 0
    with ReviewStore.open(tmp_path) as again:  # released: the next instance writes
        assert not again.read_only and again.outcome.reason is None
        again.set_status("from-holder", ReviewStatus.ACCEPTED)


def test_lock_of_a_killed_instance_is_taken_over(tmp_path):
    proc = _start_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    lock = _store_file(tmp_path).with_name(STORE_FILENAME + ".lock")
    assert json.loads(lock.read_text())["pid"] == proc.pid  # the dead holder's record is still there
    with ReviewStore.open(tmp_path) as store:
        assert not store.read_only and store.outcome.reason is None
        assert store.status("from-holder") is ReviewStatus.FLAGGED  # its committed work survived
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_without_os_locks_the_holder_record_decides(tmp_path, monkeypatch):
    """Some network shares have no OS locks: then a record of a live or foreign holder is respected and a record
    whose process is gone from this host is stale and taken over."""
    import errno

    import pneumoviewer.review.store as store_mod

    def no_locks(fd: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(store_mod, "_os_lock", no_locks)
    lock = _store_file(tmp_path).with_name(STORE_FILENAME + ".lock")
    lock.parent.mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here = socket.gethostname()
    cases = [
        ({"host": here, "user": "dr-gone", "pid": int(gone.stdout), "since": 1.0}, False),
        ({"host": here, "user": "dr-live", "pid": os.getppid(), "since": 2.0}, True),
        ({"host": "other-host", "user": "dr-far", "pid": 1, "since": 3.0}, True),
    ]
    for record, held in cases:
        lock.write_text(json.dumps(record))
        with ReviewStore.open(tmp_path) as store:
            assert store.read_only is held, record
            if held:
                assert store.outcome.reason is StoreIssue.LOCKED and store.outcome.holder.user == record["user"]
            else:
                assert json.loads(lock.read_text())["pid"] == os.getpid()


# ------------------------------------------------------------------------------------------ read-only folder

_READ_ONLY_CHILD = textwrap.dedent(
    """
    import json, os, sys
    import fcntl  # noqa: F401  (imported before dropping privileges: the interpreter's files are root-only)
    from pneumoviewer.core.types import ReviewStatus
    from pneumoviewer.review.store import ReviewStore
    folder, uid = sys.argv[1], int(sys.argv[2])
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    assert not os.access(folder, os.W_OK)  # really read-only for this process
    out = {}
    with ReviewStore.open(folder, read_only=True) as store:  # export/evaluate: reads, creates nothing
        out["ro"] = {"path": str(store.path), "statuses": {k: v.value for k, v in store.statuses().items()},
                     "finals": len(store.final_entries())}
    out["data_after_ro"] = sorted(os.listdir(os.environ["PNEUMOVIEWER_DATA"]))
    with ReviewStore.open(folder) as store:  # the app: the folder's store is copied, new work goes there
        o = store.outcome
        out["rw"] = {"path": str(store.path), "read_only": o.read_only, "reason": o.reason and o.reason.value,
                     "copied_from": str(o.copied_from), "message": o.message,
                     "statuses": {k: v.value for k, v in store.statuses().items()}}
        store.set_status("b", ReviewStatus.NEGATIVE)
    with ReviewStore.open(folder) as store:
        out["reopen"] = {"path": str(store.path), "b": store.status("b").value,
                         "reason": store.outcome.reason and store.outcome.reason.value}
    with ReviewStore.open(folder, read_only=True) as store:
        out["export_path"] = str(store.path)
    print(json.dumps(out))
    """
)


def test_read_only_folder_shows_its_store_and_new_work_goes_to_the_user_store(tmp_path):
    """Run as a real unprivileged process: root ignores file modes, so as root the child drops to `nobody`."""
    base = Path(tempfile.mkdtemp(prefix="pv-ro-"))
    try:
        base.chmod(0o755)
        folder = base / "archive"
        folder.mkdir()
        with ReviewStore.open(folder) as store:
            store.set_final_mask("a", _box())
            store.flag("b", "apex?")
            inside = store.path
        assert not inside.with_name(inside.name + "-shm").exists()  # closed cleanly: -shm must be made to read
        data = base / "data"
        data.mkdir()
        data.chmod(0o777)
        before = inside.read_bytes()
        inside.chmod(0o444)
        for d in (inside.parent, folder):
            d.chmod(0o555)
        uid = 65534 if os.geteuid() == 0 else -1
        res = subprocess.run(
            [sys.executable, "-c", _READ_ONLY_CHILD, str(folder), str(uid)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PNEUMOVIEWER_DATA": str(data), "PNEUMOVIEWER_REVIEWER": "dr-b", "HOME": str(data)},
        )
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["ro"] == {"path": str(inside), "statuses": {"a": "corrected", "b": "flagged"}, "finals": 1}
        assert out["data_after_ro"] == []  # a read-only use wrote nothing anywhere
        rw = out["rw"]
        assert not rw["read_only"] and rw["reason"] == StoreIssue.READ_ONLY_FOLDER.value
        assert Path(rw["path"]).is_relative_to(data) and rw["copied_from"] == str(inside)
        assert rw["path"] in rw["message"] and "read-only" in rw["message"]
        assert rw["statuses"] == {"a": "corrected", "b": "flagged"}  # earlier work is not hidden
        assert out["reopen"] == {"path": rw["path"], "b": "negative", "reason": "read-only-folder"}
        assert out["export_path"] == rw["path"]  # export reads where the new work is
        assert inside.read_bytes() == before  # the folder's own store never changed
        assert sorted(p.name for p in inside.parent.iterdir()) == [STORE_FILENAME, STORE_FILENAME + ".lock"]
    finally:
        for d in (base / "archive", base / "archive" / STORE_DIRNAME):
            if d.exists():
                d.chmod(stat.S_IRWXU)
        subprocess.run(["rm", "-rf", str(base)], check=False)


# ------------------------------------------------------------------------------------------ read-only uses


def test_evaluate_store_on_a_folder_without_store_creates_nothing(tmp_path, capsys):
    folder = tmp_path / "studies"
    folder.mkdir()
    assert main(["evaluate", "--store", str(folder)]) == 2
    assert "no review store" in capsys.readouterr().err
    assert list(folder.iterdir()) == []
    assert existing_store_path(folder) is None
    with pytest.raises(StoreNotFoundError):
        ReviewStore.open(folder, read_only=True)


def test_read_only_uses_of_a_damaged_store_refuse_and_leave_it_alone(tmp_path, capsys):
    path = _store_file(tmp_path)
    _garbage_header(path)
    before = path.read_bytes()
    with pytest.raises(StoreUnreadableError, match="damaged"):
        ReviewStore.open(tmp_path, read_only=True)
    assert main(["evaluate", "--store", str(tmp_path)]) == 2
    assert "damaged" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--csv", str(tmp_path / "out.csv")]) == 1
    assert "damaged" in capsys.readouterr().err and not (tmp_path / "out.csv").exists()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [
        STORE_FILENAME,
        *(STORE_FILENAME + s for s in ("-shm", "-wal")),
    ]


# ------------------------------------------------------------------------------------------ source identity


def test_source_identity_is_recorded_with_each_decision(tmp_path):
    src = {i: SourceIdentity(f"1.2.826.{n}", f"{n:064x}") for n, i in enumerate(("edit", "acc", "neg"))}
    with ReviewStore.open(tmp_path) as store:
        store.set_final_mask("edit", _box(), source=src["edit"])
        store.set_ai_result(Prediction("acc", 0.9, _box(), MODEL))
        store.accept_ai("acc", source=src["acc"])
        store.mark_negative("neg", shape=(8, 8), source=src["neg"])
        store.set_final_mask("plain", _box())
    with ReviewStore.open(tmp_path, read_only=True) as store:
        for image_id, identity in src.items():
            assert store.source_identity(image_id) == identity
        assert store.source_identity("plain") is None and store.source_identity("unknown") is None
        entries = {e.image_id: e.source for e in store.final_entries()}
        assert entries == {**src, "plain": None}


def _v1_store(folder: Path) -> Path:
    """A store exactly as version 1 wrote it (the previous release)."""
    path = _store_file(folder)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, 1)
    mask = _box((40, 30), (2, 9, 3, 8))
    conn.execute(
        "INSERT INTO images(image_id, height, width, status, created, updated, ai_probability, ai_rle, ai_model_name, "
        "ai_model_version, ai_model_synthetic, ai_updated, final_rle) VALUES ('old', 40, 30, 'accepted', 1, 1, 0.75, "
        "?, 'm', '1', 0, 1, ?)",
        (rle.encode(mask), rle.encode(mask)),
    )
    conn.close()
    return path


def test_version_1_store_is_migrated_and_keeps_its_work(tmp_path):
    _v1_store(tmp_path)
    with ReviewStore.open(tmp_path) as store:
        assert schema.schema_version(store._conn) == schema.SCHEMA_VERSION >= 2
        assert store.status("old") is ReviewStatus.ACCEPTED
        assert store.stored_ai()["old"].mask_area == 7 * 5  # area derived from the stored RLE
        assert store.source_identity("old") is None
        store.set_final_mask("old", _box((40, 30)), source=SourceIdentity("1.2", "ab"))
        assert store.source_identity("old") == SourceIdentity("1.2", "ab")


def test_version_1_store_reads_read_only_without_being_changed(tmp_path):
    path = _v1_store(tmp_path)
    before = path.read_bytes()
    with ReviewStore.open(tmp_path, read_only=True) as store:
        assert store.status("old") is ReviewStatus.ACCEPTED and store.stored_ai()["old"].mask_area == 35
    assert path.read_bytes() == before
    conn = sqlite3.connect(path)
    assert schema.schema_version(conn) == 1
    conn.close()


# ------------------------------------------------------------------------------------------ layers, bulk readers


def test_mask_layer_enum_selects_the_exported_layer(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        store.set_ai_result(Prediction("a", 0.9, _box(), MODEL))
        store.set_final_mask("a", _box(box=(1, 2, 1, 2)))
        (orig,) = store.final_entries(layer=MaskLayer.ORIGINAL)
        assert orig.layer is MaskLayer.ORIGINAL and orig.final_rle == rle.encode(_box())
        (final,) = store.final_entries()
        assert final.layer is MaskLayer.FINAL and final.final_rle == rle.encode(_box(box=(1, 2, 1, 2)))
        assert store.final_entries(layer="original")[0].layer is MaskLayer.ORIGINAL
        with pytest.raises(ValueError, match="reference"):
            store.final_entries(layer=MaskLayer.REFERENCE)
        with pytest.raises(ValueError, match="layer must be"):
            store.final_entries(layer="bogus")


def test_bulk_readers_restore_a_worklist_in_one_query_each(tmp_path):
    n = 60
    with ReviewStore.open(tmp_path) as store:
        for i in range(n):
            mask = np.zeros((32, 32), bool)
            mask[: i % 7, :3] = True
            store.set_ai_result(Prediction(f"i{i}", i / n, mask, MODEL), model_sha256="f" * 64 if i % 2 else None)
        store.mark_negative("i3")
        store.flag("i5", "apex?")
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        ai = store.stored_ai("f" * 64) | store.stored_ai("")  # one model's results (the session asks for one)
        statuses = store.statuses()
        comments = store.comments()
        store._conn.set_trace_callback(None)
        plans = [" ".join(r[3] for r in store._conn.execute(f"EXPLAIN QUERY PLAN {q}")) for q in statements]
        assert store.stored_ai() == ai  # no current model recorded: each image's newest result
    assert len(statements) == 4  # one query each, whatever the number of images
    assert all("COVERING INDEX" in plan for plan in plans), plans  # never reads the mask-carrying rows
    assert len(ai) == n and statuses["i3"] is ReviewStatus.NEGATIVE and statuses["i4"] is ReviewStatus.UNREVIEWED
    assert statuses["i5"] is ReviewStatus.FLAGGED and comments == {"i5": "apex?"}
    assert ai["i10"].probability == pytest.approx(10 / n) and ai["i10"].mask_area == 3 * 3
    assert ai["i11"].model_sha256 == "f" * 64 and ai["i10"].model_sha256 is None
    assert ai["i10"].model == MODEL and ai["i10"].model is ai["i12"].model  # one ModelInfo per model
