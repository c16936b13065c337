"""What every format says the same way: caveats, what the rules could not judge, the summary.

A finding that carries caveats (rejected input records name its subject) is marked with
:data:`CAVEAT_MARK` in every format and lists them; every format has a "not judged" part
listing, per rule, what it could not judge and why, and the rules that did not run for want
of an input.
"""

from __future__ import annotations

from dataclasses import dataclass

from traceability.inert import inert
from traceability.model import Caveat, Report

#: The mark every format puts on a finding that carries caveats.
CAVEAT_MARK = "⚠"
#: How many subjects of a "not judged" reason the table and Markdown views show.
SUBJECTS_SHOWN = 10

__all__ = [
    "CAVEAT_MARK",
    "SUBJECTS_SHOWN",
    "Gap",
    "caveat_text",
    "gaps",
    "inert",
    "subjects_text",
    "summary_line",
]


def caveat_text(c: Caveat) -> str:
    """One caveat as ``source (code): reason``.

    >>> caveat_text(Caveat("events.jsonl:4", "bad-event-time", "eventTime: not a date"))
    'events.jsonl:4 (bad-event-time): eventTime: not a date'
    """
    return f"{c.source} ({c.code}): {c.reason}"


@dataclass(frozen=True)
class Gap:
    """One line of the "not judged" part: a rule, what it did not judge, and whom."""

    rule: str
    reason: str
    count: int
    subjects: tuple[str, ...]


def gaps(report: Report) -> list[Gap]:
    """What each rule could not judge, in the order of ``rules_run``.

    A rule without data gives one line naming the inputs it lacked.
    """
    out = []
    for run in report.rules_run:
        if run.status != "ran":
            absent = ", ".join(run.absent) if run.absent else "its inputs"
            out.append(Gap(run.rule, f"not run: no rows in {absent}", 0, ()))
        out += [Gap(run.rule, n.reason, n.count, n.subjects) for n in run.not_judged]
    return out


def subjects_text(gap: Gap, shown: int = SUBJECTS_SHOWN) -> str:
    """The first subjects of a gap, with how many more there are.

    >>> subjects_text(Gap("r", "why", 3, ("a", "b", "c")), shown=2)
    'a, b and 1 more'
    """
    head = ", ".join(gap.subjects[:shown])
    more = gap.count - min(shown, len(gap.subjects))
    return f"{head} and {more} more" if more > 0 and head else head


def summary_line(report: Report) -> str:
    """One line: how many findings of each severity, and the rules without data."""
    counts = report.by_severity()
    ran = sum(1 for r in report.rules_run if r.status == "ran")
    idle = [r.rule for r in report.rules_run if r.status == "no-data"]
    if counts:
        parts = ", ".join(f"{n} {sev}" for sev, n in counts.items())
        head = f"{len(report.findings)} finding(s): {parts}"
    elif report.empty_scope:
        head = "No findings: no records in scope, nothing was judged"
    else:
        head = "No findings"
    caveated = report.caveated()
    if caveated:
        head += f", {caveated} with caveats ({CAVEAT_MARK})"
    text = f"{head}; {ran} rule(s) ran"
    if idle:
        text += f", {len(idle)} had no data ({', '.join(idle)})"
    partial = sum(1 for r in report.rules_run if r.not_judged)
    if partial:
        text += f", {partial} could not judge everything"
    if report.rejected_records:
        text += f"; {report.rejected_records} input record(s) rejected at load"
    period = report.parameters.get("period")
    as_of = report.parameters.get("as_of")
    if period:
        text += f"; period {period}"
    if as_of:
        text += f"; as of {as_of}"
    return text + "."
