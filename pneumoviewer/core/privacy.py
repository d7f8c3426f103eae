"""The per-installation pseudonymisation key: `patient_key(PatientID)` for patient-level data splits.

What the key protects: the salt (32 random bytes in ``<user data>/patient-key-salt``, mode 0600, owner only) makes
a patient key useless to anyone without this installation's salt file, so a key cannot be matched against other
installations' keys or reversed by hashing every plausible MRN (a 7-digit MRN space falls in seconds when the salt
is known). What it does not protect: anyone who can read the salt file (the same user, an administrator, a backup
of the home folder) can recompute every key; it is a pseudonym, not encryption. Patient keys never leave the app:
exports carry none (see `pneumoviewer.io.dicom.deidentify`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pneumoviewer.core.paths import user_data_dir

SALT_FILE_NAME = "patient-key-salt"
SALT_MODE = 0o600


@lru_cache(maxsize=1)
def patient_salt() -> bytes:
    """This installation's random salt, created on first use (owner-only file).

    An existing salt file readable by others is tightened to 0600. Where the user data folder is not writable, a
    salt derived from this machine and user is used instead (stable across runs, so patient keys and the
    folder-index cache stay consistent)."""
    path = user_data_dir() / SALT_FILE_NAME
    for _attempt in range(2):
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if len(data) >= 16:
                if os.name == "posix" and path.stat().st_mode & 0o077:
                    os.chmod(path, SALT_MODE)
                return data
            path.unlink()  # a stub cut short by a crash: replaced by a whole salt
        try:
            return _create_salt(path)
        except FileExistsError:
            continue  # another process created it first: read theirs
        except OSError:
            break
    import platform

    return hashlib.sha256(f"pneumoviewer|{platform.node()}|{path}".encode()).digest()


def _create_salt(path: Path) -> bytes:
    """A new salt in `path`, created exclusively with mode 0600 from the first byte (never readable by others, not
    even for an instant; two processes never end up with two salts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), SALT_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(salt)
        fh.flush()
        os.fsync(fh.fileno())
    return salt


def salt_fingerprint() -> str:
    """A short digest of the salt: caches keyed on patient keys are invalid when the salt changes."""
    return hashlib.sha256(patient_salt()).hexdigest()[:12]


def patient_key(patient_id: object) -> str | None:
    """A salted, truncated hash of PatientID for patient-level data splits; the raw ID is never kept."""
    text = str(patient_id or "").strip()
    if not text:
        return None
    return hashlib.sha256(patient_salt() + text.encode("utf-8", "replace")).hexdigest()[:20]
