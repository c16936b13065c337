"""The JSON report: the contract ``diff`` and outside tools read."""

from __future__ import annotations

import json

from traceability.model import Report


def render_json(report: Report) -> str:
    """The report as JSON (``schemas/report.schema.json``), two-space indented."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
