"""The JSON report: the contract ``diff`` and outside tools read."""

from __future__ import annotations

import json

from traceability.inert import inert_json
from traceability.model import Report


def render_json(report: Report) -> str:
    """The report as JSON (``schemas/report.schema.json``), two-space indented.

    Text stays UTF-8 (``×``, ``→``, names in any script); control, bidi and zero-width
    characters are written as ``\\uXXXX`` escapes (:func:`traceability.inert.inert_json`),
    so the file holds none of them raw and every value reads back exactly.
    """
    return inert_json(json.dumps(report.to_dict(), indent=2, ensure_ascii=False)) + "\n"
