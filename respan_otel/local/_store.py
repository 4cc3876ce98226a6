"""SQLite storage for the local server: datasets and their logs (experiments are in
:mod:`respan_otel.local._store_experiments`).

One connection, shared by all request threads and serialised by a lock: SQLite runs one
writer at a time anyway, a single connection is the only way to share an in-memory
database, and it makes concurrent writers trivially exact. File databases use WAL so
other processes (the ``sqlite3`` shell, a second reader) can look while it runs.

Every record is kept as its API read shape in a JSON ``doc`` column, so JSON1
``json_extract`` serves filters and sorting on any field, nested ones included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from respan_otel.local._common import JSONObject, dumps
from respan_otel.local._store_core import Query, StoredLog, load_doc
from respan_otel.local._store_experiments import ExperimentStore

__all__ = ["Query", "Store", "StoredLog"]

_LOG_COUNT: Final = "(SELECT COUNT(*) FROM logs WHERE logs.dataset_id = datasets.id)"


class Store(ExperimentStore):
    """Datasets, dataset logs, experiments and experiment logs in one SQLite database."""

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
                copy = load_doc(doc_text)
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
        return None if row is None else {**load_doc(row[0]), "log_count": row[1]}

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
            doc = {**load_doc(row[0]), **changes}
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
        return count, [{**load_doc(str(doc)), "log_count": n} for doc, n in rows]

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
        return None if row is None else StoredLog(load_doc(row[0]), load_doc(row[1]))

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
            new = change(StoredLog(load_doc(row[0]), load_doc(row[1])))
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
        return count, [load_doc(str(doc)) for (doc,) in rows]

    def delete_logs(self, dataset_id: str, query: Query) -> int:
        """Delete a dataset's logs matching ``query`` (its window is ignored); the count."""
        with self._transaction() as conn:
            cursor = conn.execute(
                f"DELETE FROM logs WHERE dataset_id = ? AND ({query.where})",
                [dataset_id, *query.params],
            )
        return cursor.rowcount
