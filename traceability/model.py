"""The values the reconciliation produces: findings, rule runs and the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: The keys a finding's subject may have, in the contract's order (``report.md``): every
#: format lists a subject's keys in this order, and a rule names its subject with them.
SUBJECT_KEYS = (
    "gtin",
    "lot",
    "shipment_ref",
    "declaration_id",
    "epc",
    "party",
    "country_from",
    "country_to",
    "substance_base",
    "authorisation_ref",
    "filing_id",
)


class Severity(StrEnum):
    """How serious a finding is; members are listed from most to least severe."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical up to 4 for info: sorts the most severe first.

        >>> Severity.CRITICAL.rank < Severity.INFO.rank
        True
        """
        return list(Severity).index(self)

    def at_least(self, threshold: Severity) -> bool:
        """Whether this severity is ``threshold`` or more severe.

        >>> Severity.HIGH.at_least(Severity.MEDIUM), Severity.LOW.at_least(Severity.MEDIUM)
        (True, False)
        """
        return self.rank <= threshold.rank


@dataclass(frozen=True)
class Evidence:
    """One record a finding rests on: what it is, its key, and ``file:line``.

    ``source`` is the path as loaded and the line (or record number) in it; where one path
    was loaded more than once, the path is followed by ``@`` and the first 12 hex digits of
    the file's SHA-256. ``input`` is the index of that file in the report's inputs (None
    when unknown). ``record`` is the stored record's text (see :mod:`traceability.records`),
    at most a bounded number of characters, ``record_cut`` how many more were left out;
    None when the report carries no record for it.
    """

    kind: str
    key: str
    source: str | None
    input: int | None = None
    record: str | None = None
    record_cut: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The evidence item as the JSON report writes it (the optional keys when known)."""
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "source": self.source}
        if self.input is not None:
            out["input"] = self.input
        if self.record is not None:
            out["record"] = self.record
            if self.record_cut:
                out["record_cut"] = self.record_cut
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        """An evidence item from its JSON form (a report of any version)."""
        source, index, record = data.get("source"), data.get("input"), data.get("record")
        return cls(
            str(data["kind"]),
            str(data["key"]),
            None if source is None else str(source),
            index if isinstance(index, int) and not isinstance(index, bool) else None,
            None if record is None else str(record),
            int(data.get("record_cut") or 0),
        )


@dataclass(frozen=True)
class Caveat:
    """A rejected input record that names a finding's subject: what the finding may lack.

    ``source`` is ``file:line`` of the rejected record (the file alone when the reject has
    no line), ``code`` the reject's code and ``reason`` its message.
    """

    source: str
    code: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """The caveat as the JSON report writes it."""
        return {"source": self.source, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class Finding:
    """One discrepancy: a rule's judgement on one subject.

    ``caveats`` name the rejected input records that also name the subject: the finding was
    made without them. They are not part of the fingerprint. ``records_left_out``: how many
    evidence items carry no record because the report bounds the records per finding.
    """

    fingerprint: str
    rule: str
    severity: Severity
    period: str | None
    subject: Mapping[str, str]
    expected: str | None
    observed: str | None
    difference: str | None
    unit: str | None
    message: str
    detail: str | None = None
    evidence: tuple[Evidence, ...] = ()
    caveats: tuple[Caveat, ...] = ()
    records_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The finding as the JSON report writes it (``caveats`` only when there are any)."""
        out: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "severity": self.severity.value,
            "period": self.period,
            "subject": dict(self.subject),
            "expected": self.expected,
            "observed": self.observed,
            "difference": self.difference,
            "unit": self.unit,
            "message": self.message,
            "detail": self.detail,
            "evidence": [e.to_dict() for e in self.evidence],
        }
        if self.records_left_out:
            out["records_left_out"] = self.records_left_out
        if self.caveats:
            out["caveats"] = [c.to_dict() for c in self.caveats]
        return out


@dataclass(frozen=True)
class NotJudged:
    """What a rule that ran could not judge, and why: one reason and the subjects it covers.

    ``subjects`` lists at most :data:`MAX_SUBJECTS` of them (sorted); ``count`` says how
    many there are in all.
    """

    reason: str
    subjects: tuple[str, ...] = ()
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The entry of a rule's ``not_judged`` list."""
        return {"reason": self.reason, "count": self.count, "subjects": list(self.subjects)}


#: How many subjects a ``not_judged`` entry lists (its ``count`` gives them all).
MAX_SUBJECTS = 100


@dataclass(frozen=True)
class RuleRun:
    """Whether a rule ran (and how many findings it gave) or had no data to run on.

    A rule that ran may say what it could not judge (``not_judged``); a rule without data
    names the inputs it needs that hold no rows (``absent``).
    """

    rule: str
    status: str  # "ran" or "no-data"
    findings: int | None = None
    not_judged: tuple[NotJudged, ...] = ()
    absent: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The entry of ``rules_run``."""
        out: dict[str, Any] = {"rule": self.rule, "status": self.status}
        if self.findings is not None:
            out["findings"] = self.findings
        if self.absent:
            out["absent"] = list(self.absent)
        if self.not_judged:
            out["not_judged"] = [n.to_dict() for n in self.not_judged]
        return out


@dataclass(frozen=True)
class InputFile:
    """One file loaded into the database the report was made from.

    ``load_id`` is its load in the store (not written to the report; None when unknown).
    """

    path: str
    sha256: str
    kind: str
    records: int
    rejected: int
    load_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Report:
    """The result of one reconciliation.

    ``scope``: how many records the rules had to judge, per table of records they read
    (``batches``, ``consignments``, ``events``, ``filings``; those dated in the period with
    ``--period``); None when not counted (a report read back from an older file).
    """

    tool_version: str
    generated_at: str
    inputs: tuple[InputFile, ...]
    parameters: Mapping[str, Any]
    rules_run: tuple[RuleRun, ...]
    findings: tuple[Finding, ...]
    tool_name: str = field(default="tracecheck")
    rejected_records: int = 0
    scope: Mapping[str, int] | None = None
    #: the settings file read, how it was found and every setting in effect
    #: (:meth:`traceability.config.Config.report_entry`); None when not known
    config: Mapping[str, Any] | None = None

    @property
    def records_in_scope(self) -> int | None:
        """How many records the rules had to judge in all (None: not counted)."""
        return None if self.scope is None else sum(self.scope.values())

    @property
    def empty_scope(self) -> bool:
        """Whether the rules judged nothing: no record in scope (an empty store or period).

        A report with a finding judged something, whatever records it counted.
        """
        return self.records_in_scope == 0 and not self.findings

    def caveated(self) -> int:
        """How many findings carry caveats."""
        return sum(1 for f in self.findings if f.caveats)

    def fails(
        self, threshold: Severity, *, caveated: bool = True, allow_empty: bool = False
    ) -> bool:
        """Whether a finding is at ``threshold`` or more severe (``--fail-on``).

        ``caveated=False`` leaves out the findings that carry caveats. A report that judged
        no record (:attr:`empty_scope`) fails too: a gate does not pass on nothing, unless
        ``allow_empty`` (``--allow-empty``).
        """
        if self.empty_scope and not allow_empty:
            return True
        return any(
            f.severity.at_least(threshold) for f in self.findings if caveated or not f.caveats
        )

    def by_severity(self) -> dict[str, int]:
        """Finding counts per severity present, most severe first."""
        counts = {s.value: 0 for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return {k: v for k, v in counts.items() if v}

    def worst(self) -> Severity | None:
        """The most severe finding's severity, or None for a clean report."""
        return min((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def to_dict(self) -> dict[str, Any]:
        """The report as the JSON contract describes it."""
        return {
            "tool": {"name": self.tool_name, "version": self.tool_version},
            "generated_at": self.generated_at,
            "inputs": [
                {
                    "path": i.path,
                    "sha256": i.sha256,
                    "kind": i.kind,
                    "records": i.records,
                    "rejected": i.rejected,
                }
                for i in self.inputs
            ],
            "parameters": dict(self.parameters),
            **({} if self.config is None else {"config": dict(self.config)}),
            "rules_run": [r.to_dict() for r in self.rules_run],
            "summary": {
                "findings": len(self.findings),
                "by_severity": self.by_severity(),
                "caveated": self.caveated(),
                "rejected_records": self.rejected_records,
            },
            **self._scope_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }

    def _scope_dict(self) -> dict[str, Any]:
        """The report's ``scope`` entry, when the records in scope were counted."""
        if self.scope is None:
            return {}
        return {"scope": {"records": self.records_in_scope, "by_table": dict(self.scope)}}

    @staticmethod
    def scope_from_dict(data: Mapping[str, Any]) -> dict[str, int] | None:
        """The ``scope`` of a JSON report (None when it has none)."""
        scope = data.get("scope")
        if not isinstance(scope, Mapping):
            return None
        return {str(k): int(v) for k, v in (scope.get("by_table") or {}).items()}
