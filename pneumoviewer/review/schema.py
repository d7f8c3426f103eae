"""Review store schema and its migrations (``PRAGMA user_version`` holds the version).

Each migration is a list of SQL statements run in one transaction together with the version bump, so a store is
always at a whole version. Add a new entry to :data:`MIGRATIONS` for every schema change; never edit an old one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: dict[int, tuple[str, ...]] = {
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
}

SCHEMA_VERSION = max(MIGRATIONS)


class SchemaError(RuntimeError):
    """The store was written by a newer PneumoViewer (unknown schema version)."""


def schema_version(conn: sqlite3.Connection) -> int:
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
            for stmt in MIGRATIONS[nxt]:
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {nxt:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = nxt
    return current
