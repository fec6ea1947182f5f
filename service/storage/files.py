"""Private files: the server's data files are readable by its own user only, whatever the umask.

Every secret and key sits in the database (or next to it), so the server creates its files with a 0077
umask (SQLite gives its WAL and SHM sidecars the database file's mode). A dev server tightens files an
older version left open; a production server refuses to start instead, naming the file and the fix, so an
operator learns that the files were exposed (docs/security.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


class ExposedFile(Exception):
    """A data file other users can read or write; the message names the file and the fix."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL and in-memory databases)."""
    if not url.startswith("sqlite"):
        return None
    database = sa.engine.make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def sqlite_files(url: str) -> list[Path]:
    """The database file and its sidecars, whether they exist yet or not."""
    db = sqlite_path(url)
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")] if db is not None else []


def make_private(files: list[Path], *, repair: bool) -> None:
    """From now on create files for this user only; then, for each existing file of `files` that others can
    access, tighten it to 0600 (`repair`, dev mode) or raise ExposedFile (production)."""
    os.umask(PRIVATE_UMASK)
    for path in files:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        if repair:
            os.chmod(path, FILE_MODE)
        else:
            raise ExposedFile(
                f"{path} can be read by other users (mode {mode:04o}): it holds server data; "
                f"run `chmod 600 {path}` and start again"
            )


def private_dir(path: Path) -> Path:
    """Create `path` if missing and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path
