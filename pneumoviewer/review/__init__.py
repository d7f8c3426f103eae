"""Review store (sqlite3, WAL): statuses, AI vs final masks, journal, exports, imports, agreement."""

from pneumoviewer.review.store import FinalEntry, ReviewRecord, ReviewStore, ReviewStoreError, store_path_for

__all__ = ["FinalEntry", "ReviewRecord", "ReviewStore", "ReviewStoreError", "store_path_for"]
