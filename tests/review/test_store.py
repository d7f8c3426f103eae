"""ReviewStore: masks, statuses, review actions, position, imports, schema, location."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.review import ReviewStore, ReviewStoreError, store_path_for
from pneumoviewer.review.schema import SCHEMA_VERSION, SchemaError, migrate, schema_version
from pneumoviewer.review.store import StoreIssue, StoreReadOnlyError


def _mask(shape=(300, 517), box=(50, 120, 60, 200)):
    m = np.zeros(shape, bool)
    m[box[0] : box[1], box[2] : box[3]] = True
    return m


def _pred(image_id="1.2.3", mask=None, p=0.87):
    return Prediction(
        image_id=image_id,
        probability=p,
        mask=_mask() if mask is None else mask,
        model=ModelInfo("demo-unet", "2026.1", synthetic=True),
        device="CPU",
    )


def test_store_lives_in_folder_and_sets_wal(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        assert store.path == tmp_path.resolve() / ".pneumoviewer" / "review.sqlite"
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert schema_version(store._conn) == SCHEMA_VERSION


def test_unwritable_folder_falls_back_to_user_data(tmp_path, monkeypatch):
    import pneumoviewer.review.store as store_mod

    folder = tmp_path / "archive"
    folder.mkdir()
    # as root every folder is writable, so simulate read-only media at the probe
    monkeypatch.setattr(store_mod, "_writable_dir", lambda path: False)
    path = store_path_for(folder)
    assert folder not in path.parents and "review-stores" in str(path)
    assert path == store_path_for(folder)  # stable key for the same folder
    assert path != store_path_for(tmp_path)
    with ReviewStore.open(folder) as store:
        store.set_status("a", ReviewStatus.FLAGGED, comment="x")
    with ReviewStore.open(folder) as store:
        assert store.status("a") is ReviewStatus.FLAGGED
    assert not (folder / ".pneumoviewer").exists()


def test_open_requires_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        ReviewStore.open(tmp_path / "missing")


def test_final_mask_roundtrip_and_status(tmp_path):
    m = _mask()
    with ReviewStore.open(tmp_path, reviewer="dr-a") as store:
        assert store.final_mask("x") is None
        assert store.status("x") is ReviewStatus.UNREVIEWED
        assert store.set_final_mask("x", m)
        assert not store.set_final_mask("x", m)  # unchanged → nothing written
        assert store.status("x") is ReviewStatus.CORRECTED
    with ReviewStore.open(tmp_path) as store:
        got = store.final_mask("x")
        assert got.dtype == bool and np.array_equal(got, m)
        rec = store.record("x")
        assert rec.reviewer == "dr-a" and rec.has_final and rec.height == 300 and rec.width == 517
        with pytest.raises(ReviewStoreError, match="300x517"):
            store.set_final_mask("x", np.zeros((10, 10), bool))


def test_ai_result_kept_apart_from_final(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        store.set_ai_result(_pred())
        ai = store.ai_result("1.2.3")
        assert ai.probability == pytest.approx(0.87)
        assert ai.model == ModelInfo("demo-unet", "2026.1", True)
        assert np.array_equal(ai.mask, _mask())
        assert store.final_mask("1.2.3") is None
        assert store.status("1.2.3") is ReviewStatus.UNREVIEWED
        edited = _mask(box=(10, 20, 10, 20))
        store.set_final_mask("1.2.3", edited)
        store.set_ai_result(_pred(p=0.5))  # a re-run never touches final
        assert np.array_equal(store.final_mask("1.2.3"), edited)
        assert np.array_equal(store.original_mask("1.2.3"), _mask())


def test_review_actions(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        store.set_ai_result(_pred("a"))
        accepted = store.accept_ai("a")
        assert np.array_equal(accepted, _mask()) and np.array_equal(store.final_mask("a"), _mask())
        assert store.status("a") is ReviewStatus.ACCEPTED
        with pytest.raises(ReviewStoreError, match="no AI result"):
            store.accept_ai("b")
        with pytest.raises(ReviewStoreError, match="size"):
            store.mark_negative("b")
        store.mark_negative("b", shape=(64, 80))
        assert store.status("b") is ReviewStatus.NEGATIVE
        fb = store.final_mask("b")
        assert fb.shape == (64, 80) and not fb.any()
        store.flag("a", "check the apex")
        assert store.status("a") is ReviewStatus.FLAGGED and store.comment("a") == "check the apex"
        assert store.statuses() == {"a": ReviewStatus.FLAGGED, "b": ReviewStatus.NEGATIVE}
        actions = [j["action"] for j in store.journal()]
        assert actions[:4] == ["status", "negative", "accept_ai", "ai"]


def test_position_and_ui_state(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        assert store.position() is None
        store.set_position("img-7")
        store.set_state("sort", "probability")
    with ReviewStore.open(tmp_path) as store:
        assert store.position() == "img-7" and store.state("sort") == "probability"


def test_import_final_keeps_raw_rows_until_edited(tmp_path):
    h, w = 40, 30
    a = _mask((h, w), (2, 6, 2, 6))
    b = _mask((h, w), (4, 10, 4, 9))  # overlaps a
    rows = {"img": [rle.encode(a), rle.encode(b)], "neg": ["-1"]}
    sizes = {"img": (h, w), "neg": (h, w)}
    with ReviewStore.open(tmp_path) as store:
        assert store.import_final_rows(rows, sizes, "truth.csv") == 2
        assert store.import_rows("img") == rows["img"]
        assert np.array_equal(store.final_mask("img"), a | b)
        assert store.status("img") is ReviewStatus.UNREVIEWED
        assert not store.set_final_mask("img", a | b)  # same mask: still unedited
        assert store.import_rows("img") == rows["img"]
        store.set_final_mask("img", a)
        assert store.import_rows("img") is None
        # a re-import never overwrites the reviewer's work
        assert store.import_final_rows(rows, sizes, "truth.csv") == 1
        assert np.array_equal(store.final_mask("img"), a)


def test_import_bad_row_writes_nothing(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        with pytest.raises(rle.RleError):
            store.import_final_rows({"a": ["1 5"], "b": ["999999 3"]}, {"a": (10, 10), "b": (10, 10)}, "x.csv")
        assert len(store) == 0


def test_reference_layer(tmp_path):
    m = _mask((20, 20), (1, 5, 1, 5))
    with ReviewStore.open(tmp_path) as store:
        store.import_reference_rows({"a": [rle.encode(m)], "b": ["-1"]}, {"a": (20, 20), "b": (20, 20)}, "t.csv")
        assert np.array_equal(store.reference_mask("a"), m)
        assert not store.reference_mask("b").any()
        assert store.reference_mask("c") is None
        assert store.reference_source() == "t.csv"
        assert store.final_mask("a") is None  # the reference is not the reviewer's mask


def test_schema_newer_than_app_opens_read_only_and_is_never_written(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        store.set_status("a", ReviewStatus.FLAGGED, comment="apex")
        db = store.path
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    store = ReviewStore(db)
    assert store.read_only and store.outcome.reason is StoreIssue.NEWER_SCHEMA
    assert "newer PneumoViewer" in store.outcome.message
    assert store.status("a") is ReviewStatus.FLAGGED  # what it holds is still shown
    with pytest.raises(StoreReadOnlyError, match="newer"):
        store.set_status("a", ReviewStatus.ACCEPTED)
    store.close()
    assert db.read_bytes() == before
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(SchemaError, match="newer"):  # the migration itself still refuses
        migrate(conn)
    conn.close()


def test_closed_store_refuses_writes(tmp_path):
    store = ReviewStore.open(tmp_path)
    store.close()
    store.close()
    with pytest.raises(ReviewStoreError, match="closed"):
        store.set_status("a", ReviewStatus.ACCEPTED)


def test_no_patient_identifiers_in_schema(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        cols = " ".join(
            r[1]
            for t in ("images", "reference", "journal", "state")
            for r in store._conn.execute(f"PRAGMA table_info({t})")
        )
    assert "patient" not in cols.lower()


def test_migration_machinery_upgrades_existing_store(tmp_path, monkeypatch):
    from pneumoviewer.review import schema

    with ReviewStore.open(tmp_path) as store:
        store.set_final_mask("a", _mask())
        path = store.path
    upgraded = dict(schema.MIGRATIONS)
    upgraded[SCHEMA_VERSION + 1] = ("ALTER TABLE images ADD COLUMN second_reader TEXT",)
    monkeypatch.setattr(schema, "MIGRATIONS", upgraded)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(conn, SCHEMA_VERSION + 1) == SCHEMA_VERSION + 1
    cols = [r[1] for r in conn.execute("PRAGMA table_info(images)")]
    assert "second_reader" in cols
    assert schema.migrate(conn, SCHEMA_VERSION + 1) == SCHEMA_VERSION + 1  # idempotent
    conn.close()
    with ReviewStore(path) as store:  # data survives the upgrade
        assert np.array_equal(store.final_mask("a"), _mask())


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    from pneumoviewer.review import schema

    db = tmp_path / "s.sqlite"
    broken = {1: ("CREATE TABLE t (x INTEGER)", "THIS IS NOT SQL")}
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(conn, 1)
    assert schema.schema_version(conn) == 0
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='t'").fetchone() is None
    conn.close()


def test_autosave_persists_every_committed_step(tmp_path):
    from pneumoviewer.editing import MaskDocument
    from pneumoviewer.editing.tools import BrushTool

    with ReviewStore.open(tmp_path) as store:
        store.set_ai_result(_pred("img"))
        start = store.starting_mask("img")
        assert np.array_equal(start, _mask())  # no final yet: open with the AI mask
        doc = MaskDocument.from_mask(start)
        stop = store.autosave("img", doc)
        brush = BrushTool(radius=5)
        brush.press(doc, (10, 10))
        brush.move(doc, (10, 40))
        assert store.final_mask("img") is None  # mid-stroke: nothing committed yet
        brush.release(doc)
        assert np.array_equal(store.final_mask("img"), doc.mask)
        assert store.status("img") is ReviewStatus.CORRECTED
        doc.undo()
        assert np.array_equal(store.final_mask("img"), _mask())
        doc.redo()
        assert np.array_equal(store.final_mask("img"), doc.mask)
        stop()
        doc.undo()
        assert not np.array_equal(store.final_mask("img"), doc.mask)
        assert store.starting_mask("unknown") is None
        store.register_image("known", 7, 9)
        assert store.starting_mask("known").shape == (7, 9)


# ------------------------------------------------------------------------------------------ issue 10: per model

SHA_A, SHA_B = "a" * 64, "b" * 64


def _model_pred(image_id: str, mask: np.ndarray, p: float, sha: str | None, name: str = "m") -> Prediction:
    return Prediction(image_id, p, mask, ModelInfo(name, "1", sha256=sha))


def test_two_models_results_for_one_image_are_both_kept_and_read_back_by_sha(tmp_path):
    a, b = _mask(box=(10, 40, 10, 40)), _mask(box=(100, 110, 200, 260))
    with ReviewStore.open(tmp_path) as store:
        store.set_final_mask("img", _mask(box=(1, 3, 1, 3)), status=ReviewStatus.CORRECTED)
        store.set_ai_result(_model_pred("img", a, 0.9, SHA_A, "unet"))
        store.set_ai_result(_model_pred("img", b, 0.2, SHA_B, "densenet"))
        store.set_ai_result(_model_pred("img", b, 0.4, None, "test-engine"))  # unknown bundle: its own slot
        assert np.array_equal(store.original_mask("img", SHA_A), a)
        assert np.array_equal(store.original_mask("img", SHA_B), b)
        assert store.ai_result("img", SHA_A).probability == pytest.approx(0.9)
        assert store.ai_result("img", SHA_A).model == ModelInfo("unet", "1")
        assert store.ai_result("img", SHA_A).model.sha256 == SHA_A
        assert store.ai_result("img", "").probability == pytest.approx(0.4)
        assert store.ai_result("img", "c" * 64) is None
        assert store.stored_ai(SHA_B)["img"].probability == pytest.approx(0.2)
        assert store.stored_ai(SHA_B)["img"].model_sha256 == SHA_B and store.stored_ai("")["img"].model_sha256 is None
        store.set_ai_result(_model_pred("img", a, 0.7, SHA_A, "unet"))  # a re-run replaces only its own result
        assert store.ai_result("img", SHA_A).probability == pytest.approx(0.7)
        assert store.ai_result("img", SHA_B).probability == pytest.approx(0.2)
        # no AI write touched the reviewer's mask or status
        assert np.array_equal(store.final_mask("img"), _mask(box=(1, 3, 1, 3)))
        assert store.status("img") is ReviewStatus.CORRECTED
        models = store.ai_models()
        assert [m.model.sha256 for m in models] == [SHA_A, None, SHA_B]  # newest first
        assert [m.model.name for m in models] == ["unet", "test-engine", "densenet"]
        assert store.resolve_ai_model("bbbbbbb") == SHA_B
        with pytest.raises(ValueError, match="matches no model"):
            store.resolve_ai_model("c" * 64)
        # readers that name no model: the folder's current model, else the newest
        assert store.ai_result("img").model.sha256 == SHA_A
        store.set_ai_model(SHA_B)
        assert store.ai_model() == SHA_B and store.ai_result("img").probability == pytest.approx(0.2)
        assert store.record("img").ai_probability == pytest.approx(0.2)
        (orig,) = store.final_entries(layer="original")
        assert orig.final_rle == rle.encode(b) and orig.ai_model.name == "densenet"
        (orig_a,) = store.final_entries(layer="original", model_sha256=SHA_A)
        assert orig_a.final_rle == rle.encode(a)
        assert np.array_equal(store.accept_ai("img", model_sha256=SHA_A), a)
        (final,) = store.final_entries()
        assert final.final_is_ai and final.ai_model.name == "unet"  # the model whose mask was accepted


def _v2_store(folder) -> tuple:
    """A store exactly as version 2 wrote it: one AI result per image, with its bundle sha256 (or none)."""
    from pneumoviewer.review import schema

    path = folder / ".pneumoviewer" / "review.sqlite"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, 2)
    mask, final = _mask((40, 30), (2, 9, 3, 8)), _mask((40, 30), (20, 25, 0, 4)) | _mask((40, 30), (30, 35, 20, 25))
    for image_id, sha, fin in (("x", SHA_A, final), ("y", None, None)):
        conn.execute(
            "INSERT INTO images(image_id, height, width, status, created, updated, ai_probability, ai_rle, "
            "ai_mask_area, ai_model_name, ai_model_version, ai_model_synthetic, ai_model_sha256, ai_device, "
            "ai_updated, final_rle) VALUES (?, 40, 30, 'corrected', 1, 1, 0.6, ?, 35, 'old', '3', 1, ?, 'CPU', 2, ?)",
            (image_id, rle.encode(mask), sha, None if fin is None else rle.encode(fin)),
        )
    conn.execute(  # a final mask whose RLE cannot be read: the upgrade must not fail on it
        "INSERT INTO images(image_id, height, width, created, updated, final_rle) VALUES ('bad', 40, 30, 1, 1, '5 2 9')"
    )
    conn.close()
    return path, mask, final


def test_migration_from_version_2_keeps_each_ai_result_under_its_recorded_sha(tmp_path):
    path, mask, final = _v2_store(tmp_path)
    before = path.read_bytes()
    with ReviewStore.open(tmp_path, read_only=True) as store:  # read at the new schema, the file left as it was
        assert store.stored_ai(SHA_A)["x"].probability == pytest.approx(0.6)
    assert path.read_bytes() == before
    with ReviewStore.open(tmp_path) as store:
        assert schema_version(store._conn) == SCHEMA_VERSION == 3
        assert np.array_equal(store.original_mask("x", SHA_A), mask)
        assert np.array_equal(store.original_mask("y", ""), mask)  # no sha recorded: the unknown bundle's slot
        ai = store.ai_result("x", SHA_A)
        assert ai.probability == pytest.approx(0.6) and ai.model == ModelInfo("old", "3", True)
        assert store.stored_ai(SHA_A)["x"].mask_area == 35 and set(store.stored_ai()) == {"x", "y"}
        assert store.status("x") is ReviewStatus.CORRECTED and np.array_equal(store.final_mask("x"), final)
        entry, bad = store.final_entries()
        assert entry.components is not None and len(entry.components) == 2  # filled once by the migration
        assert bad.image_id == "bad" and bad.components is None
        cols = {r[1] for r in store._conn.execute("PRAGMA table_info(images)")}
        assert not {c for c in cols if c.startswith("ai_")}  # the AI lives in ai_results only
