"""Review store (sqlite3, WAL): statuses, AI vs final masks, journal, exports."""
