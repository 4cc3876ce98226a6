"""SQLite storage of experiments and their logs (one row per dataset row and run)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from respan_otel.local._common import JSONObject, dumps
from respan_otel.local._store_core import Query, StoreCore, load_doc


class ExperimentStore(StoreCore):
    """Experiments and experiment logs."""

    def create_experiment(self, doc: JSONObject, logs: Sequence[JSONObject] = ()) -> bool:
        """Insert an experiment with its logs; ``False`` (nothing written) when its id is taken."""
        with self._transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO experiments (id, doc) VALUES (?, ?)", (doc["id"], dumps(doc))
                )
            except sqlite3.IntegrityError:
                return False
            self._insert_experiment_logs(conn, str(doc["id"]), logs)
        return True

    @staticmethod
    def _insert_experiment_logs(
        conn: sqlite3.Connection, experiment_id: str, logs: Sequence[JSONObject]
    ) -> None:
        conn.executemany(
            "INSERT INTO experiment_logs (id, experiment_id, doc) VALUES (?, ?, ?)",
            [(log["id"], experiment_id, dumps(log)) for log in logs],
        )

    def get_experiment(self, experiment_id: str) -> JSONObject | None:
        """An experiment, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
        return None if row is None else load_doc(row[0])

    def update_experiment(
        self,
        experiment_id: str,
        change: Callable[[JSONObject], JSONObject],
        new_logs: Callable[[JSONObject, JSONObject], Sequence[JSONObject] | None] | None = None,
    ) -> JSONObject | None:
        """Read, change and write an experiment in one transaction; ``None`` if unknown.

        ``change`` may raise to abort. ``new_logs(old, new)``, when it returns a list,
        replaces the experiment's logs with it in the same transaction.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT doc FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
            if row is None:
                return None
            old = load_doc(row[0])
            new = change(old)
            # before the write: new_logs may record the new log count in ``new``
            logs = new_logs(old, new) if new_logs is not None else None
            conn.execute("UPDATE experiments SET doc = ? WHERE id = ?", (dumps(new), experiment_id))
            if logs is not None:
                conn.execute(
                    "DELETE FROM experiment_logs WHERE experiment_id = ?", (experiment_id,)
                )
                self._insert_experiment_logs(conn, experiment_id, logs)
        return new

    def delete_experiment(self, experiment_id: str) -> bool:
        """Delete an experiment and its logs; ``False`` if it did not exist."""
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))
            conn.execute("DELETE FROM experiment_logs WHERE experiment_id = ?", (experiment_id,))
        return cursor.rowcount > 0

    def list_experiments(self, query: Query) -> tuple[int, list[JSONObject]]:
        """``(total, page)`` of experiments matching ``query``."""
        count, rows = self._page("experiments", "doc", "1", (), query)
        return count, [load_doc(str(doc)) for (doc,) in rows]

    # experiment logs

    def list_experiment_logs(
        self, experiment_id: str, query: Query
    ) -> tuple[int, list[JSONObject]]:
        """``(total, page)`` of an experiment's logs matching ``query``."""
        count, rows = self._page(
            "experiment_logs", "doc", "experiment_id = ?", (experiment_id,), query
        )
        return count, [load_doc(str(doc)) for (doc,) in rows]

    def get_experiment_log(self, experiment_id: str, log_id: str) -> JSONObject | None:
        """One log of an experiment, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM experiment_logs WHERE experiment_id = ? AND id = ?",
                (experiment_id, log_id),
            ).fetchone()
        return None if row is None else load_doc(row[0])

    def update_experiment_log(
        self, experiment_id: str, log_id: str, change: Callable[[JSONObject], JSONObject]
    ) -> JSONObject | None:
        """Read, change and write an experiment log in one transaction; ``None`` if unknown."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT doc FROM experiment_logs WHERE experiment_id = ? AND id = ?",
                (experiment_id, log_id),
            ).fetchone()
            if row is None:
                return None
            new = change(load_doc(row[0]))
            conn.execute("UPDATE experiment_logs SET doc = ? WHERE id = ?", (dumps(new), log_id))
        return new
