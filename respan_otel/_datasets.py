"""How a dataset is named at a call site (``@trace(dataset=...)``, ``span(dataset=...)``):
an id, or a name to look up (and create when missing).

Dataset ids are opaque strings to Respan (``ds_support_qa_2024`` is as valid as a UUID),
so wherever only an id makes sense (``RESPAN_DATASET_ID``, ``RespanClient`` arguments
named ``dataset_id``) any string is taken as an id. A call site takes either, by this
rule, in this order:

1. ``id:<id>`` is always the id ``<id>`` (the explicit way to say "this is an id");
2. ``_saved_logs`` is always an id: Respan's virtual collection of saved logs;
3. a UUID (any spelling) is an id;
4. anything else is a dataset *name*.
"""

from __future__ import annotations

import re
from typing import Final

SAVED_LOGS: Final = "_saved_logs"
"""The id of Respan's virtual saved-logs collection; never a dataset name."""
ID_PREFIX: Final = "id:"
"""``id:<id>`` names a dataset by id at a call site, whatever the id looks like."""

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def is_dataset_id(value: str) -> bool:
    """Whether a call-site ``value`` names a dataset by id (rather than by name)."""
    return value.startswith(ID_PREFIX) or value == SAVED_LOGS or bool(_UUID.match(value))


def dataset_id_of(value: str) -> str:
    """The id a value given as an id stands for: ``id:<id>`` -> ``<id>``, else as given."""
    return value[len(ID_PREFIX) :] if value.startswith(ID_PREFIX) else value
