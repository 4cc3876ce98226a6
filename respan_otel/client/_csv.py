"""CSV text that spreadsheets open as data: one rule for every CSV export we write."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
# (CSV injection); such text is written with a leading apostrophe, which they hide.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> object:
    """One cell: ``None`` empty, lists and objects as JSON, formula-like text defused.

    Numbers stay numbers (``-5`` is not a formula); only text is ever prefixed.
    """
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Sequence[Mapping[str, object]], columns: Iterable[str] | None = None) -> str:
    """Rows as CSV with a header; columns are ``columns``, else every key in first-seen order."""
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = seen
    names = list(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(name) for name in names])
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in names])
    return out.getvalue()
