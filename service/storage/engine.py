"""Engines for SQLite (embedded default) and PostgreSQL, and schema migration at start-up."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 7_406_211  # arbitrary advisory-lock key shared by every replica


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite:///` URLs; PostgreSQL always goes through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_engine(url: str) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # Writers take the write lock up front, so two racing transactions serialize instead of
        # failing with "database is locked" when a read lock cannot be upgraded.
        mode = "IMMEDIATE" if conn.get_execution_options().get("vg_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision; safe to call from several processes at once."""
    # Imported here: only the process that prepares the storage migrates, and alembic costs 80 ms to import.
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
        try:
            with conn.begin() if conn.dialect.name == "postgresql" else _write(conn):
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()


def _write(conn: sa.Connection):  # noqa: ANN202
    return conn.execution_options(vg_write=True).begin()
