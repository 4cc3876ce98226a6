"""The SQLite connection, schema and paging shared by every part of the local store.

One connection, shared by all request threads and serialised by a lock: SQLite runs one
writer at a time anyway, a single connection is the only way to share an in-memory
database, and it makes concurrent writers trivially exact. File databases use WAL so
other processes (the ``sqlite3`` shell, a second reader) can look while it runs.

Every record is kept as its API read shape in a JSON ``doc`` column, so JSON1
``json_extract`` serves filters and sorting on any field, nested ones included.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, cast

from respan_otel.local._common import JSONObject
from respan_otel.local._match import SQL_FUNCTION, match

SCHEMA_VERSION: Final = 1

TRACE_ID_SQL: Final = """json_extract(doc, '$."metadata"."trace_id"')"""
"""A log's trace id in SQL, exactly as index ``logs_by_trace`` has it: a condition written
with it finds a trace among 100,000 logs without reading them all (the viewer's traces)."""

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL CHECK (json_valid(doc))
);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL,
    doc TEXT NOT NULL CHECK (json_valid(doc)),
    source TEXT NOT NULL CHECK (json_valid(source))
);
CREATE INDEX IF NOT EXISTS logs_by_dataset ON logs (dataset_id, seq);
CREATE INDEX IF NOT EXISTS logs_by_time
    ON logs (dataset_id, json_extract(doc, '$."timestamp"'), seq);
CREATE INDEX IF NOT EXISTS logs_by_trace ON logs (dataset_id, {TRACE_ID_SQL});
CREATE TABLE IF NOT EXISTS experiments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL CHECK (json_valid(doc))
);
CREATE TABLE IF NOT EXISTS experiment_logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    experiment_id TEXT NOT NULL,
    doc TEXT NOT NULL CHECK (json_valid(doc))
);
CREATE INDEX IF NOT EXISTS experiment_logs_by_experiment ON experiment_logs (experiment_id, seq);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Sorts written out in the SQL (not bound) so SQLite can use the expression index above:
# a page of a 100,000-log dataset by time then reads 50 rows instead of sorting them all.
_INDEXED_SORTS: Final = frozenset({'$."timestamp"'})


@dataclass(frozen=True)
class Query:
    """What a list request asks for: an SQL condition on ``doc``, an order and a window."""

    where: str = "1"
    params: Sequence[object] = ()
    sort_path: str = '$."created_at"'
    descending: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class StoredLog:
    """A log's read shape and the body it was built from."""

    doc: JSONObject
    source: JSONObject


def load_doc(text: str) -> JSONObject:
    return cast("JSONObject", json.loads(text))


class StoreCore:
    """One SQLite connection with the schema, a lock, transactions and paging."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._closed = False
        try:
            self._conn.create_function(SQL_FUNCTION, 4, match, deterministic=True)
            self._conn.execute("PRAGMA busy_timeout = 10000")
            if os.fspath(path) not in ("", ":memory:"):
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def setting(self, name: str, default: Callable[[], str]) -> str:
        """A value stored with the database, set to ``default()`` the first time it is read."""
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return str(row[0])
            value = default()
            conn.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (name, value))
        return value

    def _page(
        self, table: str, columns: str, scope: str, scope_params: Sequence[object], query: Query
    ) -> tuple[int, list[tuple[object, ...]]]:
        where = f"{scope} AND ({query.where})"
        params = [*scope_params, *query.params]
        direction = "DESC" if query.descending else "ASC"
        indexed = query.sort_path in _INDEXED_SORTS
        key = f"'{query.sort_path}'" if indexed else "?"
        sql = (
            f"SELECT {columns} FROM {table} WHERE {where} "
            f"ORDER BY json_extract(doc, {key}) {direction}, seq {direction}"
        )
        window: list[object] = [] if indexed else [query.sort_path]
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            window += [query.limit, query.offset]
        with self._lock:
            (count,) = self._conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {where}", params
            ).fetchone()
            rows = self._conn.execute(sql, [*params, *window]).fetchall()
        return int(count), rows
