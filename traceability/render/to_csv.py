"""The CSV report: one row per finding, safe to open in a spreadsheet.

The columns are the same whatever the findings (22 of them, :func:`header`), so a
spreadsheet, a script or a database import can rely on them: ``fingerprint, rule,
severity, period``, one column per subject key of the contract in its order (``gtin, lot,
shipment_ref, declaration_id, epc, party, country_from, country_to, substance_base,
authorisation_ref, filing_id``; empty where a finding's subject has no such key),
``expected, observed, difference, unit, message, evidence`` (each record as
``kind key (source)``, joined with ``"; "``), ``caveats`` (each rejected record that names
the subject as ``source (code): reason``, joined with ``"; "``; empty for a finding without
caveats). A report that is not the contract's (built in Python with other subject keys)
gets those keys as further columns after ``filing_id``.

How values are protected, and why this way:

* **Nothing acts on a reader.** Control characters (ESC, BEL, NUL, DEL, C1), bidi
  controls and zero-width characters are written as visible escapes (``\\x1b``,
  ``\\u200b``) by :func:`traceability.inert.inert`, before the rules below.
* **Formulas never run.** A spreadsheet reads a cell beginning with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return as a formula (CSV injection). Such a cell is written
  with a leading apostrophe: ``'=cmd|' /C calc'!A0`` is text.
* **Identifiers stay text.** Opening a CSV, Excel turns anything that looks like a number,
  date, time or percentage into one: GTIN ``08901234000012`` loses its leading zero, an
  18-digit SSCC its last digits, lot ``SEP1`` becomes a date. Every column except the three
  quantities is text, and a value a spreadsheet would convert gets the same apostrophe.
* **Why the apostrophe, not ``="08901234000012"``.** That trick makes the cell a formula,
  the very thing the first rule forbids, and every other reader (Python, R, a database
  import, a text editor) gets ``="…"`` instead of the value. The apostrophe is one character
  with one meaning, the same for both rules: *this cell is text; the value is what follows
  the apostrophe*. Excel takes it as its text marker; where a reader shows it, the digits
  are still exact. To recover values, drop one leading ``'`` from any cell that has it.
* **Quantities stay numbers.** ``expected``, ``observed`` and ``difference`` are plain
  decimals (``-8`` included) so they sum in a spreadsheet; a plain decimal cannot run as a
  formula. A quantity cell that is not a plain decimal is treated as text.
* ``bom=True`` starts the file with a UTF-8 byte-order mark, which Excel on Windows needs to
  read non-ASCII text (``×``, ``→``, party names) as UTF-8.

Rows end with CRLF (RFC 4180).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from traceability.diff import QUANTITIES, Diff
from traceability.inert import inert
from traceability.model import SUBJECT_KEYS, Evidence, Finding, Report
from traceability.render.common import caveat_text
from traceability.render.preflight_common import its_report
from traceability.render.registry import Format, fixed

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUANTITY_COLUMNS = ("expected", "observed", "difference")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_CONVERTED = re.compile(
    r"""
      \s*[(]?[$€£¥]?[-+]?[0-9][0-9,]*(\.[0-9]*)?([e][-+]?[0-9]+)?%?[)]?\s*  # 0123, 1e5, 5%
    | \s*[-+]?\.[0-9]+([e][-+]?[0-9]+)?%?\s*                          # .5
    | [0-9]{1,4}[-/.][0-9]{1,2}([-/.][0-9]{1,4})?([ t].*)?             # 2026-01-05, 3/4
    | [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?(\s*[ap]m?)?                      # 12:30
    | [0-9]{1,2}[-/ ]?"""
    + _MONTH
    + r"""([-/ ][0-9]{1,4})?                                             # 1-Sep
    | """
    + _MONTH
    + r"""[-/ .]?[0-9]{1,4}                                              # SEP1, Mar-26
    | (true|false)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def neutralise(value: str) -> str:
    """The cell as text a spreadsheet will neither run nor convert.

    >>> [neutralise(v) for v in ("=1+1", "-1", "08901234000012", "SEP1", "L2401", "")]
    ["'=1+1", "'-1", "'08901234000012", "'SEP1", 'L2401', '']
    """
    if value.startswith(FORMULA_START) or _CONVERTED.fullmatch(value):
        return "'" + value
    return value


def text_cell(value: str) -> str:
    """A text cell: inert (control, bidi and zero-width characters escaped), then neutralised.

    >>> text_cell("L2401\\u200b"), text_cell("\\t=1"), text_cell("=1")
    ('L2401\\\\u200b', '\\\\t=1', "'=1")
    """
    return neutralise(inert(value))


def quantity_cell(value: str | None) -> str:
    """A quantity as a number cell when it is a plain decimal, else as protected text.

    >>> quantity_cell("-8"), quantity_cell(None), quantity_cell("=1")
    ('-8', '', "'=1")
    """
    if value is None:
        return ""
    return value if _DECIMAL.fullmatch(value) else text_cell(value)


def subject_keys(findings: Iterable[Finding]) -> list[str]:
    """Every subject key of the contract, in its order, whatever the findings; a key
    outside the contract (a report built in Python) follows, sorted."""
    present = {k for f in findings for k in f.subject}
    return [*SUBJECT_KEYS, *sorted(present - set(SUBJECT_KEYS))]


def evidence_text(e: Evidence) -> str:
    """One evidence record as ``kind key (source)``; the source is left out when unknown."""
    return f"{e.kind} {e.key} ({e.source})" if e.source else f"{e.kind} {e.key}"


def finding_cells(f: Finding, keys: Sequence[str]) -> list[str]:
    """The protected cells of one finding for the columns of :func:`header`."""
    text = [f.fingerprint, f.rule, f.severity.value, f.period or ""]
    text += [f.subject.get(k, "") for k in keys]
    quantities = [quantity_cell(getattr(f, q)) for q in QUANTITY_COLUMNS]
    tail = [f.unit or "", f.message, "; ".join(evidence_text(e) for e in f.evidence)]
    tail.append("; ".join(caveat_text(c) for c in f.caveats))
    return [
        *(text_cell(t) for t in text),
        *quantities,
        *(text_cell(t) for t in tail),
    ]


def header(keys: Sequence[str]) -> list[str]:
    """The column names for a set of subject keys."""
    return ["fingerprint", "rule", "severity", "period", *keys, *QUANTITY_COLUMNS, "unit"] + [
        "message",
        "evidence",
        "caveats",
    ]


def write_rows(rows: Iterable[Sequence[str]], *, bom: bool) -> str:
    """Rows as CSV text (CRLF line ends, minimal quoting), optionally after a BOM."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def render_csv(report: Report, *, bom: bool = False) -> str:
    """One row per finding, with the columns and protections described above."""
    keys = subject_keys(report.findings)
    rows = [header(keys), *(finding_cells(f, keys) for f in report.findings)]
    return write_rows(rows, bom=bom)


def render_diff_csv(result: Diff, *, bom: bool = False) -> str:
    """One row per finding of a :class:`~traceability.diff.Diff`.

    The first column, ``change``, is ``new``, ``changed``, ``resolved`` or ``unchanged``;
    the finding's columns follow (the old finding for a resolved one, the new one
    otherwise), then ``previous_severity`` and the previous quantities, filled for changed
    findings only.

    The last column is ``scope``. When the reports did not look at the same things, the
    first rows (``change`` ``scope``) hold the scope, one line each, and each finding
    out of scope (``change`` ``out-of-scope``) says there which report it is of and why.
    Otherwise it is empty: the columns are the same for every diff.
    """
    everything = [*result.new, *(c.new for c in result.changed), *result.resolved]
    outside = [o.finding for o in result.out_of_scope]
    keys = subject_keys([*everything, *result.unchanged, *outside])
    previous = ["previous_severity", *(f"previous_{q}" for q in QUANTITIES)]
    scope = ["scope"]
    rows: list[list[str]] = [["change", *header(keys), *previous, *scope]]
    blank = [""] * (len(previous) + len(scope))
    width = len(rows[0])
    rows += [["scope", *[""] * (width - 2), text_cell(line)] for line in result.scope.lines()]
    rows += [["new", *finding_cells(f, keys), *blank] for f in result.new]
    for c in result.changed:
        old = c.old
        before = [text_cell(old.severity.value)]
        before += [quantity_cell(getattr(old, q)) for q in QUANTITY_COLUMNS]
        before += [text_cell(old.unit or "")]
        rows.append(["changed", *finding_cells(c.new, keys), *before, *[""] * len(scope)])
    rows += [["resolved", *finding_cells(f, keys), *blank] for f in result.resolved]
    rows += [["unchanged", *finding_cells(f, keys), *blank] for f in result.unchanged]
    for o in result.out_of_scope:
        why = text_cell(f"{o.report} report: {o.reason}")
        rows.append(["out-of-scope", *finding_cells(o.finding, keys), *blank[:-1], why])
    return write_rows(rows, bom=bom)


FORMAT = Format(
    name="csv",
    suffix=".csv",
    binary=False,
    report=fixed(render_csv),
    diff=fixed(render_diff_csv),
    preflight=its_report(render_csv),
)
