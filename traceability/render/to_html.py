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
from traceability.model import Finding, Report, Severity
from traceability.reconcile import SUBJECT_KEYS
from traceability.render.common import CAVEAT_MARK, gaps

CHART_WIDTH = 400
ROW_HEIGHT = 26
BAR_HEIGHT = 16
CHAR_WIDTH = 7.0  # average width of a 12px system-font character, for label space
MAX_LABEL = 30


def script_json(data: Any) -> Markup:
    """JSON text safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` (and the JavaScript line separators) are written as ``\\uXXXX``
    escapes, which JSON readers decode back to the same characters; they can only occur
    inside JSON strings, so the result is the same JSON value.

    >>> str(script_json({"m": "</script><!--"}))
    '{"m":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
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


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("traceability.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
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


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    from traceability.render.to_table import summary_line

    counts = report.by_severity()
    return _page(
        "report.html.j2",
        report=report,
        period=report.parameters.get("period"),
        summary=summary_line(report),
        counts=[(s.value, counts.get(s.value, 0)) for s in Severity],
        parameters=_parameters(report.parameters),
        records=dict(report.parameters.get("records") or {}),
        tolerances=sorted(dict(report.parameters.get("tolerances") or {}).items()),
        overrides=sorted(dict(report.parameters.get("severity") or {}).items()),
        idle=[r.rule for r in report.rules_run if r.status != "ran"],
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
        data=script_json(result.to_dict()),
    )
