"""The rows an experiment runs over: from a dataset on the backend or any iterable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from respan_otel._datasets import dataset_id_of, is_dataset_id
from respan_otel.client._errors import NotFoundError, ValidationError
from respan_otel.client._types import DatasetLog

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient


@dataclass(frozen=True, slots=True)
class Row:
    """One row to run: what the task gets, what the scorers compare against."""

    index: int
    input: Any
    expected_output: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    output: Any = None
    """The source log's own output (e.g. what production answered), for reference."""

    def as_dict(self) -> dict[str, Any]:
        """The row as the ``row`` argument of a task or scorer sees it."""
        return {
            "id": self.id,
            "input": self.input,
            "expected_output": self.expected_output,
            "metadata": dict(self.metadata),
            "output": self.output,
        }


def _from_item(index: int, item: object) -> Row:
    if isinstance(item, DatasetLog):
        return Row(
            index, item.input, item.expected_output, dict(item.metadata), item.id, item.output
        )
    if isinstance(item, Mapping):
        if "input" not in item:
            keys = ", ".join(map(str, item)) or "none"
            raise ValueError(
                f"row {index} has no 'input' key (keys: {keys}); rows are "
                '{"input": ..., "expected_output": ..., "metadata": {...}}'
            )
        metadata = item.get("metadata")
        row_id = item.get("id")
        return Row(
            index,
            item["input"],
            item.get("expected_output"),
            dict(metadata) if isinstance(metadata, Mapping) else {},
            None if row_id is None else str(row_id),
            item.get("output"),
        )
    return Row(index, item)  # a bare value is the input itself


def rows_from_iterable(items: Iterable[object]) -> list[Row]:
    """Rows from dicts, :class:`DatasetLog` objects or bare inputs, checked up front."""
    if isinstance(items, (str, bytes, Mapping)):
        raise TypeError(
            "dataset must be a dataset id or name, or an iterable of rows; "
            f"got a {type(items).__name__} of rows' worth of data"
            if isinstance(items, Mapping)
            else "dataset must be an iterable of rows (a str is a dataset id or name)"
        )
    return [_from_item(index, item) for index, item in enumerate(items)]


def resolve_dataset(client: RespanClient, dataset: str) -> str:
    """The id of ``dataset``, by the call-site rule of ``@trace(dataset=...)``.

    ``id:<id>``, ``_saved_logs`` and UUIDs are ids; anything else is the name of a dataset
    (looked up with the list endpoint's name filter), and failing that an id of another
    form (``ds_...``). Never creates a dataset.
    """
    if is_dataset_id(dataset):
        return dataset_id_of(dataset)
    try:
        found = client.datasets._find(dataset, {"name": {"operator": "eq", "value": [dataset]}})
    except ValidationError:  # a server that refuses the name filter: scan every dataset
        found = client.datasets._find(dataset, None)
    if found is not None:
        return found.id
    try:
        return client.datasets.get(dataset).id
    except NotFoundError:
        raise ValueError(
            f"no dataset named {dataset!r} (nor with that id) on {client.base_url}; "
            "create it first or pass its id"
        ) from None


def rows_from_dataset(client: RespanClient, dataset_id: str) -> list[Row]:
    """Every log of the dataset, as rows, in the order the server lists them."""
    return [
        _from_item(index, log) for index, log in enumerate(client.datasets.logs.iter(dataset_id))
    ]
