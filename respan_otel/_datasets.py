"""How a dataset is named at a call site: an id, or a name to resolve."""

from __future__ import annotations

import re

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def is_dataset_id(value: str) -> bool:
    """Whether ``value`` has the form of a Respan dataset id (a UUID), not a name."""
    return bool(_UUID.match(value))
