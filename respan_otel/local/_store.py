"""SQLite storage for the local server.

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

from respan_otel.local._common import JSONObject, dumps
from respan_otel.local._match import SQL_FUNCTION, match

SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
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
CREATE TABLE IF NOT EXISTS experiments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL CHECK (json_valid(doc))
);
"""

# Sorts written out in the SQL (not bound) so SQLite can use the expression index above:
# a page of a 100,000-log dataset by time then reads 50 rows instead of sorting them all.
_INDEXED_SORTS: Final = frozenset({'$."timestamp"'})
_LOG_COUNT: Final = "(SELECT COUNT(*) FROM logs WHERE logs.dataset_id = datasets.id)"


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


def _load(text: str) -> JSONObject:
    return cast("JSONObject", json.loads(text))


class Store:
    """Datasets, dataset logs and experiments in one SQLite database."""

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

    # datasets

    def create_dataset(self, doc: JSONObject) -> JSONObject:
        """Insert a dataset; returns it with ``log_count``."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO datasets (id, doc) VALUES (?, ?)", (doc["id"], dumps(doc)))
        return {**doc, "log_count": 0}

    def duplicate_dataset(
        self, doc: JSONObject, source_id: str, new_id: Callable[[], str]
    ) -> JSONObject:
        """Insert a dataset holding copies (with new ids) of another dataset's logs."""
        target = str(doc["id"])
        with self._transaction() as conn:
            conn.execute("INSERT INTO datasets (id, doc) VALUES (?, ?)", (target, dumps(doc)))
            rows = conn.execute(
                "SELECT doc, source FROM logs WHERE dataset_id = ? ORDER BY seq", (source_id,)
            ).fetchall()
            for doc_text, source_text in rows:
                copy = _load(doc_text)
                unique_id = new_id()
                copy.update(id=unique_id, unique_id=unique_id, dataset_id=target)
                conn.execute(
                    "INSERT INTO logs (unique_id, dataset_id, doc, source) VALUES (?, ?, ?, ?)",
                    (unique_id, target, dumps(copy), source_text),
                )
        return {**doc, "log_count": len(rows)}

    def get_dataset(self, dataset_id: str) -> JSONObject | None:
        """A dataset with its current ``log_count``, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT doc, {_LOG_COUNT} FROM datasets WHERE id = ?", (dataset_id,)
            ).fetchone()
        return None if row is None else {**_load(row[0]), "log_count": row[1]}

    def dataset_exists(self, dataset_id: str) -> bool:
        """Whether a dataset with this id exists."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM datasets WHERE id = ?", (dataset_id,))
            return row.fetchone() is not None

    def update_dataset(self, dataset_id: str, changes: JSONObject) -> JSONObject | None:
        """Apply ``changes`` to a dataset's document; ``None`` if it does not exist."""
        with self._transaction() as conn:
            row = conn.execute("SELECT doc FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
            if row is None:
                return None
            doc = {**_load(row[0]), **changes}
            conn.execute("UPDATE datasets SET doc = ? WHERE id = ?", (dumps(doc), dataset_id))
        return self.get_dataset(dataset_id)

    def delete_dataset(self, dataset_id: str) -> bool:
        """Delete a dataset and all its logs; ``False`` if it did not exist."""
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,)).rowcount
            conn.execute("DELETE FROM logs WHERE dataset_id = ?", (dataset_id,))
        return deleted > 0

    def list_datasets(self, query: Query) -> tuple[int, list[JSONObject]]:
        """``(total, page)`` of datasets matching ``query``."""
        count, rows = self._page("datasets", f"doc, {_LOG_COUNT}", "1", (), query)
        return count, [{**_load(str(doc)), "log_count": n} for doc, n in rows]

    # dataset logs

    def insert_logs(self, logs: Sequence[StoredLog]) -> None:
        """Insert logs atomically (all or none)."""
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO logs (unique_id, dataset_id, doc, source) VALUES (?, ?, ?, ?)",
                [
                    (log.doc["unique_id"], log.doc["dataset_id"], dumps(log.doc), dumps(log.source))
                    for log in logs
                ],
            )

    def get_log(self, dataset_id: str, unique_id: str) -> StoredLog | None:
        """A log of a dataset, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT doc, source FROM logs WHERE dataset_id = ? AND unique_id = ?",
                (dataset_id, unique_id),
            ).fetchone()
        return None if row is None else StoredLog(_load(row[0]), _load(row[1]))

    def update_log(
        self, dataset_id: str, unique_id: str, change: Callable[[StoredLog], StoredLog]
    ) -> StoredLog | None:
        """Read, change and write a log in one transaction; ``None`` if it does not exist.

        ``change`` may raise to abort the update; nothing is written then.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT doc, source FROM logs WHERE dataset_id = ? AND unique_id = ?",
                (dataset_id, unique_id),
            ).fetchone()
            if row is None:
                return None
            new = change(StoredLog(_load(row[0]), _load(row[1])))
            conn.execute(
                "UPDATE logs SET doc = ?, source = ? WHERE unique_id = ?",
                (dumps(new.doc), dumps(new.source), unique_id),
            )
        return new

    def delete_log(self, dataset_id: str, unique_id: str) -> bool:
        """Delete a log; ``False`` if it did not exist."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM logs WHERE dataset_id = ? AND unique_id = ?", (dataset_id, unique_id)
            )
        return cursor.rowcount > 0

    def list_logs(self, dataset_id: str, query: Query) -> tuple[int, list[JSONObject]]:
        """``(total, page)`` of a dataset's logs matching ``query``."""
        count, rows = self._page("logs", "doc", "dataset_id = ?", (dataset_id,), query)
        return count, [_load(str(doc)) for (doc,) in rows]

    # experiments

    def create_experiment(self, doc: JSONObject) -> bool:
        """Insert an experiment; ``False`` when its id is taken."""
        with self._transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO experiments (id, doc) VALUES (?, ?)", (doc["id"], dumps(doc))
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def get_experiment(self, experiment_id: str) -> JSONObject | None:
        """An experiment, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
        return None if row is None else _load(row[0])

    def delete_experiment(self, experiment_id: str) -> bool:
        """Delete an experiment; ``False`` if it did not exist."""
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))
        return cursor.rowcount > 0

    def list_experiments(self, query: Query) -> tuple[int, list[JSONObject]]:
        """``(total, page)`` of experiments matching ``query``."""
        count, rows = self._page("experiments", "doc", "1", (), query)
        return count, [_load(str(doc)) for (doc,) in rows]
