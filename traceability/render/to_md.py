"""The Markdown report, for pasting into a ticket or an email.

A title, the summary line, one table per severity present (each finding gets a reference
such as ``C1`` for the first critical one), and under each table the findings' messages
with their evidence as lists. A finding that carries caveats has ``⚠`` after its rule and
lists them after its evidence; a "Not judged" table says what each rule could not judge.

Every value from the data is escaped: Markdown metacharacters get a backslash (so ``|``
cannot split a table cell and ``<script>`` stays text), line breaks and tabs become spaces,
other control, bidi and zero-width characters are shown escaped (``\\x1b``, ``\\u200b``:
:func:`traceability.inert.inert`), and a value that starts a list item cannot turn it into
a heading, a quote or a nested list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from traceability.diff import QUANTITIES, Diff
from traceability.inert import inert
from traceability.model import Finding, Report, Severity
from traceability.render.common import (
    CAVEAT_MARK,
    caveat_text,
    gaps,
    subjects_text,
    summary_line,
)
from traceability.render.preflight_common import (
    BALANCE_COLUMNS,
    balance_rows,
    unchecked_lines,
    verdict_line,
)
from traceability.render.registry import Format, fixed
from traceability.render.to_csv import evidence_text

if TYPE_CHECKING:
    from traceability.preflight import Preflight

_INLINE = re.compile(r"[\\`*{}\[\]<>|~&$!#@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_BREAKS = re.compile(r"[\t\n\x0b\x0c\r\u2028\u2029]+")
_BLOCK_START = re.compile(r"^(?:[-+=>]|[0-9]{1,9}(?=[.)]))")
COLUMNS = ("#", "rule", "subject", "period", "expected", "observed", "difference", "unit")


def md_text(value: object, *, start: bool = False) -> str:
    """``value`` as Markdown text that renders as exactly that text, on one line.

    ``start``: the text begins a block (a list item), so a leading ``-``, ``+``, ``=``,
    ``>`` or ``1.`` is escaped too.

    >>> md_text("a|b <i>x</i> `c` snake_case _em_")
    'a\\\\|b \\\\<i\\\\>x\\\\</i\\\\> \\\\`c\\\\` snake_case \\\\_em\\\\_'
    >>> md_text("- 1\\r\\n2", start=True), md_text("12. x", start=True)
    ('\\\\- 1 2', '12\\\\. x')
    """
    text = inert(_BREAKS.sub(" ", str(value)))
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    if start:
        match = _BLOCK_START.match(text)
        if match:
            end = match.end()
            text = f"\\{text}" if end == 1 else f"{text[:end]}\\{text[end:]}"
    return text


def subject_text(subject: Mapping[str, str]) -> str:
    """``key=value`` pairs joined with commas, escaped."""
    return ", ".join(f"{md_text(k)}={md_text(v)}" for k, v in subject.items()) or "—"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c or " " for c in cells) + " |"


def table(head: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[str]) -> str:
    """A GitHub-flavoured Markdown table; ``right`` names the right-aligned columns."""
    aligned = set(right)
    rule = ["---:" if h in aligned else "---" for h in head]
    lines = [_row(head), _row(rule), *(_row(r) for r in rows)]
    return "\n".join(lines)


def _cell(value: str | None) -> str:
    return md_text(value) if value is not None else ""


def finding_row(ref: str, f: Finding, old: Finding | None = None) -> list[str]:
    """The table cells of one finding; with ``old``, a changed value reads ``old → new``."""

    def value(name: str) -> str:
        now = getattr(f, name)
        if old is None or getattr(old, name) == now:
            return _cell(now)
        return f"{_cell(getattr(old, name)) or '—'} → {_cell(now) or '—'}"

    rule = md_text(f.rule) + (f" {CAVEAT_MARK}" if f.caveats else "")
    cells = [ref, rule, subject_text(f.subject), _cell(f.period)]
    return cells + [value(q) for q in QUANTITIES]


def evidence_list(ref: str, f: Finding) -> str:
    """The finding's message, then its evidence records and caveats as a nested list."""
    lines = [f"- **{ref}** {md_text(f.message)}"]
    lines += [f"  - {md_text(evidence_text(e), start=True)}" for e in f.evidence]
    lines += [f"  - {CAVEAT_MARK} caveat: {md_text(caveat_text(c))}" for c in f.caveats]
    return "\n".join(lines)


def gaps_section(report: Report) -> list[str]:
    """The "Not judged" heading and table, or nothing when every rule judged everything."""
    rows = [
        [
            md_text(g.rule),
            md_text(g.reason),
            str(g.count) if g.count else "",
            md_text(subjects_text(g)),
        ]
        for g in gaps(report)
    ]
    if not rows:
        return []
    head = ("rule", "not judged, and why", "count", "subjects")
    return [f"## Not judged ({len(rows)})", table(head, rows, ("count",))]


def provenance(report: Report) -> str:
    """One line: when, by which version, from how many input files and records."""
    records = sum(i.records for i in report.inputs)
    rejected = sum(i.rejected for i in report.inputs)
    return (
        f"Generated {md_text(report.generated_at)} by {md_text(report.tool_name)} "
        f"{md_text(report.tool_version)} from {len(report.inputs)} input file(s) "
        f"({records} records, {rejected} rejected)."
    )


def render_md(report: Report) -> str:
    """The report as Markdown: title, summary, a table and evidence list per severity."""
    period = report.parameters.get("period")
    title = f"Discrepancy report: {md_text(period)}" if period else "Discrepancy report"
    parts = [f"# {title}", f"**{md_text(summary_line(report))}**", provenance(report)]
    for severity in Severity:
        rows = [f for f in report.findings if f.severity is severity]
        if not rows:
            continue
        refs = [f"{severity.value[0].upper()}{i}" for i in range(1, len(rows) + 1)]
        parts.append(f"## {severity.value.capitalize()} ({len(rows)})")
        cells = (finding_row(r, f) for r, f in zip(refs, rows, strict=True))
        parts.append(table(COLUMNS, cells, QUANTITIES[:3]))
        parts.append("\n".join(evidence_list(r, f) for r, f in zip(refs, rows, strict=True)))
    parts += gaps_section(report)
    return "\n\n".join(parts) + "\n"


def render_diff_md(result: Diff) -> str:
    """The diff as Markdown: new, changed, resolved and unchanged findings in that order.

    New and changed findings are what needs attention, so they come with their messages and
    evidence; a changed value reads ``old → new``. When the reports did not look at the same
    things, the scope follows the summary and the findings out of scope come last, each with
    its report and the reason.
    """
    head = ("#", "severity", *COLUMNS[1:])
    parts = ["# Changes since the previous report", f"**{md_text(result.summary())}.**"]
    if result.old_generated_at or result.new_generated_at:
        parts.append(
            f"Previous report generated {_cell(result.old_generated_at) or 'at an unknown time'}; "
            f"this one {_cell(result.new_generated_at) or 'at an unknown time'}."
        )
    scope = result.scope.lines()
    if scope:
        parts.append(f"**Scope:** {md_text(scope[0])}.")
        if scope[1:]:
            parts.append("\n".join(f"- {md_text(note, start=True)}" for note in scope[1:]))
    sections: list[tuple[str, str, list[tuple[Finding | None, Finding]], bool]] = [
        ("New", "N", [(None, f) for f in result.new], True),
        ("Changed", "X", [(c.old, c.new) for c in result.changed], True),
        ("Resolved", "R", [(None, f) for f in result.resolved], False),
        ("Unchanged", "U", [(None, f) for f in result.unchanged], False),
    ]
    for name, letter, pairs, detailed in sections:
        if not pairs:
            continue
        refs = [f"{letter}{i}" for i in range(1, len(pairs) + 1)]
        rows = []
        for ref, (old, f) in zip(refs, pairs, strict=True):
            cells = finding_row(ref, f, old)
            severity = f.severity.value
            if old is not None and old.severity != f.severity:
                severity = f"{old.severity.value} → {severity}"
            rows.append([cells[0], severity, *cells[1:]])
        parts.append(f"## {name} ({len(pairs)})")
        parts.append(table(head, rows, QUANTITIES[:3]))
        if detailed:
            lists = (evidence_list(r, f) for r, (_, f) in zip(refs, pairs, strict=True))
            parts.append("\n".join(lists))
    if result.out_of_scope:
        rows = []
        for i, o in enumerate(result.out_of_scope, start=1):
            cells = finding_row(f"O{i}", o.finding)
            severity = o.finding.severity.value
            rows.append([cells[0], o.report, severity, *cells[1:4], md_text(o.reason)])
        parts.append(f"## Out of scope ({len(rows)})")
        parts.append(table(("#", "report", "severity", *COLUMNS[1:4], "why"), rows, ()))
    return "\n\n".join(parts) + "\n"


def render_preflight_md(result: Preflight) -> str:
    """A title with the verdict, the balances, then the report's sections."""
    parts = [
        f"# Preflight of shipment {md_text(result.shipment_ref)}",
        f"**{md_text(verdict_line(result))}**",
    ]
    if unchecked_lines(result):
        parts.append("\n".join(f"- {md_text(line)}" for line in unchecked_lines(result)))
    if result.balances:
        rows = [[md_text(c) for c in row] for row in balance_rows(result)]
        parts.append(table(BALANCE_COLUMNS, rows, BALANCE_COLUMNS[2:]))
    report = render_md(result.report).split("\n", 1)[1].lstrip("\n")  # its own title aside
    return "\n\n".join(parts) + "\n\n" + report


FORMAT = Format(
    name="md",
    suffix=".md",
    binary=False,
    report=fixed(render_md),
    diff=fixed(render_diff_md),
    preflight=fixed(render_preflight_md),
)
