"""Review store schema and its migrations (``PRAGMA user_version`` holds the version).

Each migration is a list of steps (SQL statements, or functions of the connection for data that SQL cannot derive)
run in one transaction together with the version bump, so a store is always at a whole version. Add a new entry to
:data:`MIGRATIONS` for every schema change; never edit an old one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pneumoviewer.core.components import run_components
from pneumoviewer.io import rle

Step = str | Callable[[sqlite3.Connection], None]


def _fill_ai_mask_area(conn: sqlite3.Connection) -> None:
    """Version 2 keeps each AI mask's pixel count beside its RLE (the worklist needs the area, not the mask)."""
    rows = conn.execute("SELECT image_id, ai_rle FROM images WHERE ai_rle IS NOT NULL").fetchall()
    conn.executemany(
        "UPDATE images SET ai_mask_area=? WHERE image_id=?",
        [(int(rle.parse(text)[1].sum()), image_id) for image_id, text in rows],
    )


def component_rows(final_rle: str, height: int) -> list[str]:
    """The training-CSV rows of a stored mask: its 8-connected components, one RLE each (none for an empty mask).
    Kept beside every final mask (``images.final_components``, newline-joined) when it is written, so an export
    labels nothing it has labelled before (issue 13)."""
    if final_rle == rle.EMPTY:
        return []
    return [rle.runs_to_string(*part) for part in run_components(*rle.parse(final_rle), height)]


def _fill_final_components(conn: sqlite3.Connection) -> None:
    """Version 3 keeps each final mask's component rows; stores from before get them once, here. A mask whose RLE
    cannot be read keeps none (the export then labels it and names the error; the upgrade never fails on it)."""
    rows = conn.execute("SELECT image_id, final_rle, height FROM images WHERE final_rle IS NOT NULL").fetchall()
    filled = []
    for image_id, text, h in rows:
        try:
            filled.append(("\n".join(component_rows(text, int(h))), image_id))
        except (TypeError, ValueError):  # RleError is a ValueError
            continue
    conn.executemany("UPDATE images SET final_components=? WHERE image_id=?", filled)


MIGRATIONS: dict[int, tuple[Step, ...]] = {
    1: (
        """
        CREATE TABLE images (
            image_id TEXT PRIMARY KEY,
            height INTEGER,
            width INTEGER,
            status TEXT NOT NULL DEFAULT 'unreviewed',
            reviewer TEXT,
            comment TEXT,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            -- the AI result ("original"), never changed by the reviewer
            ai_probability REAL,
            ai_rle TEXT,
            ai_model_name TEXT,
            ai_model_version TEXT,
            ai_model_synthetic INTEGER,
            ai_device TEXT,
            ai_updated REAL,
            -- the reviewer's mask ("final"): union RLE
            final_rle TEXT,
            final_updated REAL,
            -- rows imported as the starting final masks; exported verbatim while the final mask is unedited
            import_rows TEXT,
            import_source TEXT,
            final_from_import INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX images_status ON images(status)",
        """
        CREATE TABLE reference (
            image_id TEXT PRIMARY KEY,
            rows TEXT NOT NULL,
            source TEXT,
            imported REAL NOT NULL
        )
        """,
        """
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            image_id TEXT,
            action TEXT NOT NULL,
            detail TEXT,
            reviewer TEXT
        )
        """,
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)",
    ),
    2: (
        # the AI mask's area and the bundle's sha256: the worklist and "is this result current" without decoding
        "ALTER TABLE images ADD COLUMN ai_mask_area INTEGER",
        "ALTER TABLE images ADD COLUMN ai_model_sha256 TEXT",
        # which source file the reviewer's mask was drawn on (checked before export)
        "ALTER TABLE images ADD COLUMN source_uid TEXT",
        "ALTER TABLE images ADD COLUMN source_hash TEXT",
        _fill_ai_mask_area,
        # covering indexes: reading every status or every AI summary at open scans these small indexes, not the
        # mask-carrying rows (12,000 images: a few MB of masks vs a few hundred kB of index)
        "CREATE INDEX images_id_status ON images(image_id, status, comment)",
        """
        CREATE INDEX images_ai_summary ON images(
            image_id, ai_probability, ai_mask_area, ai_model_name, ai_model_version, ai_model_synthetic,
            ai_model_sha256, ai_updated
        ) WHERE ai_updated IS NOT NULL
        """,
    ),
    3: (
        # issue 10: one AI result per (image, bundle sha256), so switching models keeps every model's results; ''
        # is the bundle of unknown identity (a test engine, a result stored before version 2 recorded the sha256)
        """
        CREATE TABLE ai_results (
            image_id TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            probability REAL,
            rle TEXT NOT NULL,
            mask_area INTEGER NOT NULL,
            model_name TEXT,
            model_version TEXT,
            model_synthetic INTEGER,
            device TEXT,
            updated REAL NOT NULL,
            PRIMARY KEY (image_id, model_sha256)
        )
        """,
        # each old result is kept, under the bundle it recorded
        """
        INSERT INTO ai_results(image_id, model_sha256, probability, rle, mask_area, model_name, model_version,
                               model_synthetic, device, updated)
        SELECT image_id, COALESCE(ai_model_sha256, ''), ai_probability, ai_rle, COALESCE(ai_mask_area, 0),
               ai_model_name, ai_model_version, ai_model_synthetic, ai_device, COALESCE(ai_updated, updated)
        FROM images WHERE ai_rle IS NOT NULL
        """,
        # a covering index: one model's summaries for the worklist without reading any mask
        """
        CREATE INDEX ai_results_model ON ai_results(
            model_sha256, image_id, probability, mask_area, model_name, model_version, model_synthetic
        )
        """,
        "DROP INDEX images_ai_summary",
        *(f"ALTER TABLE images DROP COLUMN {column}" for column in (
            "ai_probability", "ai_rle", "ai_mask_area", "ai_model_name", "ai_model_version", "ai_model_synthetic",
            "ai_model_sha256", "ai_device", "ai_updated",
        )),
        # issue 13: the training-CSV rows of each final mask, made when it is written (an export only reads them)
        "ALTER TABLE images ADD COLUMN final_components TEXT",
        _fill_final_components,
    ),
}

SCHEMA_VERSION = max(MIGRATIONS)


class SchemaError(RuntimeError):
    """The store was written by a newer PneumoViewer (unknown schema version)."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's schema version (0: a new, empty database)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to `target`, one version per transaction; returns the version reached.

    The connection must be in autocommit mode (``isolation_level=None``) so the explicit transactions hold.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"review store schema version {current} is newer than this PneumoViewer understands ({SCHEMA_VERSION}); "
            "update PneumoViewer"
        )
    while current < target:
        nxt = current + 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) != current:  # another process migrated meanwhile
                conn.execute("ROLLBACK")
                current = schema_version(conn)
                continue
            for step in MIGRATIONS[nxt]:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
            conn.execute(f"PRAGMA user_version = {nxt:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = nxt
    return current
