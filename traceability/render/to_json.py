"""The JSON report: the contract ``diff`` and outside tools read."""

from __future__ import annotations

import json

from traceability.diff import Diff
from traceability.inert import inert_json
from traceability.model import Report
from traceability.render.preflight_common import its_report
from traceability.render.registry import Format, fixed


def render_json(report: Report) -> str:
    """The report as JSON (``schemas/report.schema.json``), two-space indented.

    Text stays UTF-8 (``×``, ``→``, names in any script); control, bidi and zero-width
    characters are written as ``\\uXXXX`` escapes (:func:`traceability.inert.inert_json`),
    so the file holds none of them raw and every value reads back exactly.
    """
    return inert_json(json.dumps(report.to_dict(), indent=2, ensure_ascii=False)) + "\n"


def render_diff_json(result: Diff) -> str:
    """The diff as JSON: ``{"new", "resolved", "changed", "unchanged"}``, two-space indented."""
    return inert_json(json.dumps(result.to_dict(), indent=2, ensure_ascii=False)) + "\n"


FORMAT = Format(
    name="json",
    suffix=".json",
    binary=False,
    report=fixed(render_json),
    diff=fixed(render_diff_json),
    preflight=its_report(render_json),
)
