"""What every group of API handlers shares: the store and how a path names a dataset."""

from __future__ import annotations

from typing import Final

from respan_otel.local._common import canonical_id, not_found
from respan_otel.local._store import Store

SAVED_LOGS_DATASET: Final = "_saved_logs"
"""Respan's virtual dataset of saved logs; it always exists and has logs, not settings."""


class Routes:
    """Base of the handler groups; :class:`~respan_otel.local._api.Api` combines them."""

    store: Store

    def _dataset_id(self, raw: str) -> str:
        """The stored id of a dataset named in a path; 404 when there is none.

        Ids are opaque strings; a UUID in any spelling maps to its one stored form.
        """
        if raw == SAVED_LOGS_DATASET:
            return raw
        dataset_id = canonical_id(raw, dashed=True)
        if not self.store.dataset_exists(dataset_id):
            raise not_found("Dataset")
        return dataset_id
