"""Rows stay byte-for-byte what they were: a representative mix of real finished spans
(our ``@trace``/``span()`` spans, hand-set attributes with invalid JSON, and the spans of
real LangChain, OpenAI, Anthropic and Agents instrumentations from
``tests/integrations``), replayed through ``RowBuilder`` in every rows mode and with
content off; each row's encoded bytes must equal those recorded in
``tests/data/rows_mix.json`` (written from the code before the mapping was made faster).
The exporter's own builder (own JSON spliced, not parsed) must give the same bytes too.

Regenerate (only when a row is meant to change): ``python -m tests.test_rows_golden``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from respan_otel._export._encode import encode
from respan_otel._export._rows import RowBuilder
from respan_otel._redact import get_redactor
from respan_otel._settings import capture_settings
from tests.span_records import from_record

DATA: Final = Path(__file__).parent / "data" / "rows_mix.json"
MODES: Final = {
    "useful": {},
    "all": {"rows": "all"},
    "roots": {"rows": "roots"},
    "content-off": {"capture_content": False},
}


def groups(spans: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in spans:
        found.setdefault(item["group"], []).append(item["span"])
    yield from found.items()


def rows_of(records: list[dict[str, Any]], *, full: bool, **options: Any) -> dict[str, Any]:
    """Each span exported in a batch of its own (the exporter's worst case for totals),
    then the group again as one batch with a fresh builder. Rows in full when ``full``,
    else their digests (the data file stays small)."""
    redactor = get_redactor(capture_settings().redact_keys)
    spans = [from_record(record) for record in records]
    out: dict[str, Any] = {}
    for name, batches in (("one-by-one", [[s] for s in spans]), ("one-batch", [spans])):
        builder = RowBuilder(redactor=redactor, **options)
        rows, not_rows, incomplete = [], {}, 0
        for batch in batches:
            built = builder.build(batch)
            for row in built.rows:
                encoded = encode(row.body)
                rows.append(
                    [row.dataset, encoded.decode() if full else hashlib.sha256(encoded).hexdigest()]
                )
            for reason, count in built.not_rows.items():
                not_rows[reason] = not_rows.get(reason, 0) + count
            incomplete += built.incomplete_totals
        out[name] = {"rows": rows, "not_rows": not_rows, "incomplete": incomplete}
    return out


@functools.lru_cache(maxsize=1)
def expected() -> dict[str, Any]:
    return dict(json.loads(DATA.read_text()))


def cases() -> list[str]:
    return list(expected()["results"]) if DATA.exists() else []  # empty: writing it


@pytest.mark.parametrize("group", cases())
def test_rows_are_byte_for_byte_what_they_were(group):
    data = expected()
    records = [item["span"] for item in data["spans"] if item["group"] == group]
    for mode, options in MODES.items():
        found = rows_of(records, full=mode == "useful", **options)
        assert found == data["results"][group][mode], mode
    # the exporter's builder: our own JSON written as is, the same bytes
    assert rows_of(records, full=True, splice=True) == data["results"][group]["useful"]


def write() -> None:
    spans = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines()]
    results = {
        group: {
            mode: rows_of(records, full=mode == "useful", **options)
            for mode, options in MODES.items()
        }
        for group, records in groups(spans)
    }
    DATA.write_text(json.dumps({"spans": spans, "results": results}, indent=0) + "\n")


if __name__ == "__main__":
    write()
