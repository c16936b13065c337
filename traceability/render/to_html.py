"""The HTML report: one self-contained file a regulator can open and send on.

Everything is inside the file: CSS and JavaScript inline, the charts as SVG drawn here in
Python, the JSON report embedded in a ``<script type="application/json">`` element. Nothing
is fetched: a Content-Security-Policy allows no source but the page's own style and script
(by their SHA-256), so even a value that slipped through escaping could not load or run
anything.

Escaping: the template is rendered with Jinja2 autoescaping and no data is ever marked
safe. The only markup passed in as-is is the package's own CSS and JavaScript and the
embedded JSON, which :func:`script_json` escapes so that no ``</script>`` (or ``<!--``)
can end the element early.

A finding that carries caveats is marked ``⚠`` after its rule and lists them in its
evidence; a "Not judged" section says what each rule could not judge, and why. Each
evidence row shows the record as loaded where the report carries it
(:mod:`traceability.records`), its source linked to its row of the input files.

Inert: every value shown has its control, bidi and zero-width characters written as
visible escapes (:func:`traceability.inert.inert`, applied by the environment to every
expression the templates print; tab and newline stay), and the embedded JSON writes them
as ``\\uXXXX`` escapes, so the file holds none of them raw and the JSON keeps exact values.

Readable in order and on paper: the summary and the findings come first, then what was
not judged, the provenance, and a description of every rule the report names (its
anchor ``#rule-<id>``, linked from each rule name), taken from the rule files' headers.
A print stylesheet shows every column and each finding's evidence expanded, wrapping long
values instead of cutting them, on A4 or Letter portrait.

The output is byte-stable: the same report gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from traceability.diff import QUANTITIES, Diff
from traceability.inert import inert, inert_json
from traceability.model import SUBJECT_KEYS, Finding, Report, RuleRun, Severity
from traceability.render.common import CAVEAT_MARK, gaps, summary_line
from traceability.render.preflight_common import its_report
from traceability.render.registry import Format, fixed
from traceability.rules import GROUP_TITLES, Rule, all_rules

CHART_WIDTH = 400
ROW_HEIGHT = 26
BAR_HEIGHT = 16
CHAR_WIDTH = 7.0  # average width of a 12px system-font character, for label space
MAX_LABEL = 30


def script_json(data: Any) -> Markup:
    """JSON text safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&``, and every character :func:`traceability.inert.inert` escapes
    (control and format characters such as bidi and zero-width ones, line and paragraph
    separators: :func:`traceability.inert.inert_json`), are written as ``\\uXXXX``
    escapes, which JSON readers decode back to the same characters; they can only occur
    inside JSON strings, so the result is the same JSON value.

    >>> str(script_json({"m": "</script><!--"}))
    '{"m":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    >>> str(script_json(["L1\\u200b", "\\u202e", "\\x85"]))
    '["L1\\\\u200b","\\\\u202e","\\\\u0085"]'
    """
    text = inert_json(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return Markup(text)  # escaped above for a script data block


@dataclass(frozen=True)
class Segment:
    """One severity's part of a bar."""

    severity: str
    count: int
    x: str
    width: str


@dataclass(frozen=True)
class Bar:
    """One labelled bar of a chart, stacked by severity."""

    label: str
    full_label: str
    total: int
    y: str
    text_y: str
    end_x: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart drawn as SVG by the template."""

    id: str
    title: str
    note: str
    width: int
    height: int
    label_x: str
    bars: tuple[Bar, ...]


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def bar_chart(
    chart_id: str,
    title: str,
    groups: Sequence[tuple[str, Sequence[Finding]]],
    *,
    empty: str,
) -> Chart:
    """A chart with one bar per group: its findings counted and stacked by severity."""
    longest = max((min(len(label), MAX_LABEL) for label, _ in groups), default=0)
    label_width = 16 + CHAR_WIDTH * longest
    area = CHART_WIDTH - label_width - 36
    most = max((len(found) for _, found in groups), default=0)
    bars = []
    for i, (label, found) in enumerate(groups):
        y = 6 + i * ROW_HEIGHT
        x = label_width
        segments = []
        for severity in Severity:
            count = sum(1 for f in found if f.severity is severity)
            if not count:
                continue
            width = area * count / most
            segments.append(Segment(severity.value, count, _num(x), _num(width)))
            x += width
        short = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
        bars.append(
            Bar(
                label=short,
                full_label=label,
                total=len(found),
                y=_num(y),
                text_y=_num(y + BAR_HEIGHT / 2 + 4),
                end_x=_num(x + 6),
                segments=tuple(segments),
            )
        )
    height = 12 + ROW_HEIGHT * len(bars)
    note = "" if bars else empty
    return Chart(chart_id, title, note, CHART_WIDTH, height, _num(label_width - 8), tuple(bars))


def _grouped(
    findings: Iterable[Finding], key: Callable[[Finding], str | None]
) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        label = key(f)
        if label is not None:
            groups.setdefault(label, []).append(f)
    return groups


def _country_pair(f: Finding) -> str | None:
    origin, destination = f.subject.get("country_from"), f.subject.get("country_to")
    if origin is None and destination is None:
        return None
    return f"{origin or '?'} → {destination or '?'}"


def charts(findings: Sequence[Finding]) -> list[Chart]:
    """Findings by rule, by country pair (country_from → country_to) and by period."""

    def by_size(groups: Mapping[str, list[Finding]]) -> list[tuple[str, list[Finding]]]:
        return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))

    rules = by_size(_grouped(findings, lambda f: f.rule))
    pairs = by_size(_grouped(findings, _country_pair))
    periods = sorted(
        _grouped(findings, lambda f: f.period or "no period").items(),
        key=lambda item: (item[0] == "no period", item[0]),
    )
    return [
        bar_chart("chart-rule", "Findings by rule", rules, empty="No findings."),
        bar_chart(
            "chart-country",
            "Findings by country pair",
            pairs,
            empty="No finding names a country of origin or destination.",
        ),
        bar_chart("chart-period", "Findings by period", periods, empty="No findings."),
    ]


def finding_row(f: Finding, old: Finding | None = None) -> dict[str, Any]:
    """What the template shows of one finding; with ``old``, the values it had before."""
    changed = {
        name: getattr(old, name)
        for name in ("severity", *QUANTITIES)
        if old is not None and getattr(old, name) != getattr(f, name)
    }
    return {
        "f": f,
        "severity": f.severity.value,
        "rank": f.severity.rank,
        "subject": sorted(f.subject.items(), key=lambda kv: _key_rank(kv[0])),
        "summary": f.detail or f.message,
        "was": {k: (v.value if isinstance(v, Severity) else v) for k, v in changed.items()},
    }


def _key_rank(key: str) -> tuple[int, str]:
    """The contract's subject key order; unknown keys last, alphabetically."""
    return (SUBJECT_KEYS.index(key) if key in SUBJECT_KEYS else len(SUBJECT_KEYS), key)


def _parameters(parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Scalar parameters as text; nested ones (tolerances, severity, records) are shown apart."""
    rows = []
    for key, value in parameters.items():
        if key in ("tolerances", "severity", "records"):
            continue
        if value is None:
            text = "—"
        elif isinstance(value, str | int | float | bool):
            text = str(value)
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        rows.append((key.replace("_", " "), text))
    return rows


#: Parameters of a report that are not a rule's tolerance or window.
_NOT_SETTINGS = ("period", "as_of", "tolerances", "severity", "records")


@dataclass(frozen=True)
class RuleNote:
    """One rule as the page describes it: its catalogue entry and what it did here.

    ``rule`` is None for a rule this version's catalogue does not hold (a report made by
    another version). ``default`` is the rule's own severity when the configuration set
    another; ``settings`` are the report's values of the tolerances and windows its SQL
    uses; ``run`` says how it ran, empty when the page does not know (a diff).
    """

    id: str
    rule: Rule | None
    title: str
    severity: str
    default: str | None
    settings: tuple[tuple[str, str], ...]
    run: str


def _setting_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _run_text(run: RuleRun) -> str:
    if run.status != "ran":
        absent = ", ".join(run.absent) if run.absent else "its inputs"
        return f"not run: no rows in {absent}"
    n = run.findings or 0
    found = f"{n} finding{'' if n == 1 else 's'}" if n else "no finding"
    return f"ran, {found}" + ("; not all judged (see Not judged)" if run.not_judged else "")


def rule_notes(
    ids: Iterable[str],
    parameters: Mapping[str, Any] | None = None,
    runs: Sequence[RuleRun] = (),
) -> list[RuleNote]:
    """The description of each rule named by ``ids``, in catalogue order (unknown ones last).

    ``parameters`` are a report's: its severity overrides and the values of the tolerances
    and windows each rule uses are shown with it. ``runs`` say how each rule ran.
    """
    parameters = parameters or {}
    overrides = dict(parameters.get("severity") or {})
    values = {k: v for k, v in parameters.items() if k not in _NOT_SETTINGS and v is not None}
    values.update(dict(parameters.get("tolerances") or {}))
    by_run = {r.rule: r for r in runs}
    catalogue = {r.id: r for r in all_rules()}
    order = {rule_id: i for i, rule_id in enumerate(catalogue)}
    wanted = sorted(set(ids), key=lambda i: (order.get(i, len(order)), i))
    notes = []
    for rule_id in wanted:
        rule = catalogue.get(rule_id)
        default = rule.severity.value if rule else None
        severity = str(overrides.get(rule_id, default or ""))
        settings = tuple(
            (name, _setting_text(values[name]))
            for name in (rule.parameters if rule else ())
            if name in values
        )
        run = by_run.get(rule_id)
        notes.append(
            RuleNote(
                id=rule_id,
                rule=rule,
                title=GROUP_TITLES.get(rule.group, rule.group) if rule else "",
                severity=severity,
                default=default if default and severity != default else None,
                settings=settings,
                run=_run_text(run) if run else "",
            )
        )
    return notes


def _shown(value: Any) -> Any:
    """What a template prints of a value: text with its unsafe characters made visible.

    Markup (the package's own CSS and script, the escaped JSON, a macro's output, itself
    made of printed values) is left as it is.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return inert(value, keep="\t\n")
    return value


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("traceability.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_shown,
    )
    env.globals["caveat_mark"] = CAVEAT_MARK  # the macros see it too
    return env


@cache
def _asset(name: str) -> tuple[Markup, str]:
    """A static file of ``templates/`` and its CSP source (``'sha256-…'``)."""
    text = (resources.files("traceability.render") / "templates" / name).read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"'sha256-{digest}'"  # the package's own file, not data


def _page(template: str, **context: Any) -> str:
    css, css_hash = _asset("report.css")
    js, js_hash = _asset("report.js")
    csp = (
        f"default-src 'none'; style-src {css_hash}; script-src {js_hash}; "
        "base-uri 'none'; form-action 'none'"
    )
    page = _environment().get_template(template)
    return page.render(css=css, js=js, csp=csp, severities=[s.value for s in Severity], **context)


def verdict_text(parameters: Mapping[str, Any], blockers: int) -> str | None:
    """A preflight's verdict, from its report's parameters; None for another report.

    The page shows it at the top, as the table and Markdown views of a preflight do
    (:func:`traceability.render.preflight_common.verdict_line`).

    >>> verdict_text({"verdict": "blocked", "shipment_ref": "AWB-1", "ship_date": "2026-03-02"}, 2)
    'Shipment AWB-1 leaving 2026-03-02: BLOCKED by 2 reasons (each with what to do).'
    """
    verdict = parameters.get("verdict")
    if verdict is None:
        return None
    head = f"Shipment {parameters.get('shipment_ref')} leaving {parameters.get('ship_date')}: "
    if verdict != "clear":
        reasons = f"{blockers} reason{'' if blockers == 1 else 's'}"
        return head + f"BLOCKED by {reasons} (each with what to do)."
    unchecked = len(parameters.get("cannot_check") or ())
    if unchecked and parameters.get("missing_data_allowed"):
        return head + f"CLEAR TO SHIP, missing data allowed: {unchecked} check(s) not made."
    return head + "CLEAR TO SHIP."


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    counts = report.by_severity()
    return _page(
        "report.html.j2",
        report=report,
        period=report.parameters.get("period"),
        summary=summary_line(report),
        verdict=verdict_text(report.parameters, len(report.findings)),
        counts=[(s.value, counts.get(s.value, 0)) for s in Severity],
        parameters=_parameters(report.parameters),
        records=dict(report.parameters.get("records") or {}),
        tolerances=sorted(dict(report.parameters.get("tolerances") or {}).items()),
        overrides=sorted(dict(report.parameters.get("severity") or {}).items()),
        idle=[r.rule for r in report.rules_run if r.status != "ran"],
        notes=rule_notes(
            [*(r.rule for r in report.rules_run), *(f.rule for f in report.findings)],
            report.parameters,
            report.rules_run,
        ),
        charts=charts(report.findings),
        caveated=report.caveated(),
        gaps=gaps(report),
        rows=[finding_row(f) for f in report.findings],
        data=script_json(report.to_dict()),
    )


def render_diff_html(result: Diff) -> str:
    """The diff as one self-contained HTML page: new, changed, resolved, unchanged.

    When the reports did not look at the same things, the scope is stated under the
    summary and the findings out of scope are listed last, each with its report and why.
    """
    sections = [
        ("new", "New", "Findings the previous report did not have.", result.new, ()),
        (
            "changed",
            "Changed",
            "Same finding, other quantities or severity: previous values are struck through.",
            tuple(c.new for c in result.changed),
            tuple(c.old for c in result.changed),
        ),
        (
            "resolved",
            "Resolved",
            "Findings of the previous report that are gone.",
            result.resolved,
            (),
        ),
        ("unchanged", "Unchanged", "Findings present in both, as they were.", result.unchanged, ()),
    ]
    return _page(
        "diff.html.j2",
        diff=result,
        summary=result.summary() + ".",
        sections=[
            {
                "id": key,
                "title": title,
                "note": note,
                "rows": [finding_row(f, olds[i] if olds else None) for i, f in enumerate(findings)],
            }
            for key, title, note, findings, olds in sections
        ],
        scope=result.scope.lines(),
        outside=[
            {"report": o.report, "reason": o.reason, "row": finding_row(o.finding)}
            for o in result.out_of_scope
        ],
        notes=rule_notes(
            f.rule
            for f in (
                *result.new,
                *result.resolved,
                *(c.new for c in result.changed),
                *result.unchanged,
                *(o.finding for o in result.out_of_scope),
            )
        ),
        data=script_json(result.to_dict()),
    )


FORMAT = Format(
    name="html",
    suffix=".html",
    binary=False,
    report=fixed(render_html),
    diff=fixed(render_diff_html),
    preflight=its_report(render_html),
)
