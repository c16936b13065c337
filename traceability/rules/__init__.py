"""The rule registry: every ``rules/<group>/<rule-id>.sql`` file, read from its header.

There is no list to maintain: a rule is a SQL file whose header comments say what it is
(see ``README.md`` next to this module). The registry is strict: a missing or unknown
header key, an id that differs from the file stem or an unknown severity is an error.

A rule file may end with a coverage section: a line starting ``-- coverage:`` (followed by
what the section reports), then one SELECT of what the rule could not judge and why (the
columns ``reason``, and optionally ``subject`` and ``period``). The rule's ``sql`` is the
text before that line, its ``coverage`` the SELECT after it.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from importlib.abc import Traversable

import duckdb

from traceability.errors import InputError, TracecheckError
from traceability.inert import escape_markdown as escape
from traceability.model import Severity
from traceability.rules.columns import ColumnsUnknown, fill_quantities
from traceability.sql import identifier, literal
from traceability.store import session_cursor

HEADER_KEYS = ("id", "severity", "needs", "tolerance", "checks", "why", "evidence")
#: Header keys a rule may give: ``remedy``, what to do about its finding before a shipment
#: leaves (the preflight's advice, filled from the finding: ``{lot}``, ``{difference}``, ...).
OPTIONAL_KEYS = ("remedy",)
#: The groups of the catalogue, in its order; a folder of rules not named here is a
#: group too, listed after these (a new group is a new folder).
_CATALOGUE_GROUPS = ("batch", "mirror", "serial", "filings", "authorisations")


def _groups() -> tuple[str, ...]:
    folders = {
        p.name
        for p in resources.files(__name__).iterdir()
        if p.is_dir() and not p.name.startswith(("_", "."))
    }
    known = [g for g in _CATALOGUE_GROUPS if g in folders]
    return (*known, *sorted(folders - set(known)))


GROUPS = _groups()
#: Each group's heading in the rule reference and the HTML report.
GROUP_TITLES = {
    "batch": "Batch balance",
    "mirror": "Mirror checks: the exporter's side against the importer's side",
    "serial": "Serial lifecycle (EPCIS events)",
    "filings": "Filings: periodic returns",
    "authorisations": "Authorisations and estimates",
    "customs": "Customs statistics",
}

_KEY_LINE = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")
#: The line that starts a rule file's coverage section.
COVERAGE_MARK = re.compile(r"^--\s*coverage:[ \t]*(.*)$", re.M)
#: The columns a coverage query returns: ``reason`` required, the others optional.
COVERAGE_COLUMNS = ("reason", "subject", "period")
_CONTINUATION = re.compile(r"^--\s{2,}(\S.*)$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")


class RuleFileError(TracecheckError):
    """A rule file's header breaks the rule-file contract."""


class UnknownRule(InputError):
    """A rule id (or group) that is not in the registry."""


@dataclass(frozen=True)
class Rule:
    """One reconciliation rule: its header fields and its SQL.

    ``sql`` is the query every engine runs: the file's text up to its coverage section, with
    the quantity columns the rule does not write added as typed NULLs (see ``columns``).
    """

    id: str
    group: str
    severity: Severity
    needs: tuple[str, ...]
    tolerance: str
    checks: str
    why: str
    evidence: str
    sql: str
    coverage: str | None = None
    coverage_about: str = ""
    remedy: str = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        """The ``$name`` parameters the SQL uses (comments and string literals aside)."""
        return sql_parameters(self.sql)

    @property
    def coverage_parameters(self) -> tuple[str, ...]:
        """The ``$name`` parameters the coverage query uses (none without one)."""
        return sql_parameters(self.coverage or "")


def sql_parameters(sql: str) -> tuple[str, ...]:
    """The ``$name`` parameters of ``sql``, comments and string literals aside.

    >>> sql_parameters("SELECT $b, '$x', $a -- $c")
    ('a', 'b')
    """
    body = _STRING.sub("''", _COMMENT.sub("", sql))
    return tuple(sorted(set(_PARAM.findall(body))))


def split_coverage(text: str, name: str) -> tuple[str, str | None, str]:
    """A rule file's text as (its rule query, its coverage query or None, what that covers).

    >>> split_coverage("SELECT 1\\n-- coverage: gaps\\n--   and more\\nSELECT 'r' AS reason", "x")
    ('SELECT 1', "SELECT 'r' AS reason", 'gaps and more')
    """
    marks = list(COVERAGE_MARK.finditer(text))
    if not marks:
        return text, None, ""
    if len(marks) > 1:
        raise RuleFileError(f"{name}: more than one coverage section")
    mark = marks[0]
    about = mark.group(1).strip()
    rest = text[mark.end() :].split("\n")
    while rest and not rest[0].strip():
        rest.pop(0)  # the end of the marker line
    while rest and (cont := _CONTINUATION.match(rest[0].rstrip())):
        about = f"{about} {cont.group(1).strip()}"
        rest.pop(0)
    query = "\n".join(rest).strip()
    if not query:
        raise RuleFileError(f"{name}: the coverage section holds no query")
    if not about:
        raise RuleFileError(f"{name}: say after '-- coverage:' what the section reports")
    return text[: mark.start()].rstrip(), query, about


def parse_header(text: str, name: str) -> dict[str, str]:
    """The header fields of a rule file, continuation lines joined with single spaces.

    >>> parse_header("-- id: a\\n-- checks: one\\n--         two\\nselect 1", "a.sql")
    {'id': 'a', 'checks': 'one two'}
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        stripped = line.rstrip()
        if not stripped.startswith("--"):
            if stripped or fields:
                break  # the header ends at the first blank line or statement
            continue
        cont = _CONTINUATION.match(stripped)
        key = _KEY_LINE.match(stripped)
        if key and not cont:
            last = key.group(1)
            if last in fields:
                raise RuleFileError(f"{name}: header key '{last}' given twice")
            fields[last] = key.group(2).strip()
        elif cont and last is not None:
            fields[last] = f"{fields[last]} {cont.group(1).strip()}".strip()
        elif stripped.strip("- "):
            raise RuleFileError(f"{name}: header line not understood: {stripped!r}")
    return fields


def _rule_from(path: Traversable, group: str) -> Rule:
    text = path.read_text(encoding="utf-8")
    name = f"{group}/{path.name}"
    fields = parse_header(text, name)
    missing = [k for k in HEADER_KEYS if not fields.get(k)]
    unknown = sorted(set(fields) - set(HEADER_KEYS) - set(OPTIONAL_KEYS))
    if missing or unknown:
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "",
            )
            if part
        )
        raise RuleFileError(f"{name}: bad header ({what})")
    stem = path.name.removesuffix(".sql")
    if fields["id"] != stem:
        raise RuleFileError(f"{name}: id '{fields['id']}' differs from the file name")
    try:
        severity = Severity(fields["severity"])
    except ValueError:
        raise RuleFileError(f"{name}: unknown severity '{fields['severity']}'") from None
    needs = tuple(n.strip() for n in fields["needs"].split(",") if n.strip())
    sql, coverage, about = split_coverage(text, name)
    try:
        sql = fill_quantities(sql)
    except ColumnsUnknown as exc:
        raise RuleFileError(f"{name}: {exc}") from None
    return Rule(
        id=stem,
        group=group,
        severity=severity,
        needs=() if needs == ("none",) else needs,
        tolerance=fields["tolerance"],
        checks=fields["checks"],
        why=fields["why"],
        evidence=fields["evidence"],
        sql=sql,
        coverage=coverage,
        coverage_about=about,
        remedy=fields.get("remedy", ""),
    )


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, by group (in catalogue order) and then id."""
    root = resources.files(__name__)
    found: list[Rule] = []
    for group in GROUPS:
        folder = root / group
        if not folder.is_dir():
            continue
        files = sorted(
            (p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name
        )
        found.extend(_rule_from(p, group) for p in files)
    return tuple(found)


def base_sql() -> str:
    """The shared base views every rule may read (``_base.sql``)."""
    return (resources.files(__name__) / "_base.sql").read_text(encoding="utf-8")


#: A statement of ``_base.sql`` with a line starting with this comment runs again until it
#: adds no row.
REPEAT_MARK = "-- repeat:"
#: How many times a repeated statement may add rows before the data is judged cyclic.
MAX_REPEATS = 16


class BaseFailed(InputError):
    """The base views could not be built from the data (e.g. a packing cycle)."""


def base_statements() -> list[tuple[str, bool]]:
    """The statements of ``_base.sql`` in order, each with whether it is to be repeated."""
    out = []
    for statement in re.split(r";\s*$", base_sql(), flags=re.M):
        if statement.strip():
            repeat = any(line.startswith(REPEAT_MARK) for line in statement.splitlines())
            out.append((statement.strip(), repeat))
    return out


WORK_CATALOG = "tracecheck_work"
_TEMP_CREATE = re.compile(r"\bCREATE OR REPLACE TEMP (TABLE|VIEW)\b")


#: What a base statement creates, or (a repeated one) adds rows to.
_MADE = re.compile(r"^(?:CREATE OR REPLACE TEMP (?:TABLE|VIEW)|INSERT INTO)\s+(\w+)", re.M)


def base_made(statement: str) -> str:
    """The view or table a statement of ``_base.sql`` creates or adds rows to."""
    found = _MADE.search(statement)
    if found is None:
        raise ValueError(f"a base statement that creates nothing: {statement[:60]!r}")
    return found.group(1)


@cache
def _base_reads() -> tuple[tuple[str, frozenset[str]], ...]:
    """Each base statement's object, in order, with the other base objects it names."""
    made = [(base_made(statement), statement) for statement, _ in base_statements()]
    return tuple((name, frozenset(base_named(text) - {name})) for name, text in made)


@cache
def _base_names() -> re.Pattern[str]:
    names = sorted({base_made(statement) for statement, _ in base_statements()})
    return re.compile(rf"\b({'|'.join(names)})\b")


def base_named(sql: str) -> set[str]:
    """The base views and tables a query's text names (comments included: naming one
    there only builds it needlessly, never leaves out one that is read)."""
    return set(_base_names().findall(sql))


def base_needed(rules: Iterable[Rule]) -> frozenset[str]:
    """The base views and tables the rules read, with every one those read in turn.

    A run of a few rules builds these alone: a group of declaration rules then skips the
    serial tables, most of the base's time on a large store.
    """
    needed: set[str] = set()
    for rule in rules:
        needed |= base_named(rule.sql) | base_named(rule.coverage or "")
        needed |= base_named(" ".join(rule.needs))
    grown = True
    while grown:  # to a fixed point: a comment may name a later object, too
        before = len(needed)
        for name, reads in _base_reads():
            if name in needed:
                needed |= reads
        grown = len(needed) > before
    return frozenset(needed)


def run_base(
    con: duckdb.DuckDBPyConnection,
    *,
    shared: bool = False,
    only: Collection[str] | None = None,
) -> None:
    """Create the base views and tables on a connection, repeating what is marked so.

    Args:
        con: an open store.
        shared: create them in an in-memory catalog attached to the database, which every
            cursor of the connection can read (see :func:`shared_cursor`), instead of the
            connection's own temporary schema. The connection's default catalog becomes
            that catalog, with the store's behind it on the search path.
        only: create these alone (see :func:`base_needed`); None: all of them.

    Raises:
        BaseFailed: a repeated statement still adds rows after MAX_REPEATS runs (the
            aggregation data holds a cycle, or is nested deeper than that).
    """
    if shared:
        _use_work_catalog(con)
    for statement, repeat in base_statements():
        if only is not None and base_made(statement) not in only:
            continue
        if shared:
            statement = _TEMP_CREATE.sub(r"CREATE OR REPLACE \1", statement)
        run_statement(con, statement, repeat=repeat)


def run_statement(con: duckdb.DuckDBPyConnection, statement: str, *, repeat: bool) -> None:
    """Run one base statement on DuckDB: once, or (``repeat``) until it adds no row."""
    if repeat:
        grow_to_fixed_point(partial(_adds_rows, con, statement))
    else:
        con.execute(statement)


def grow_to_fixed_point(grow: Callable[[], bool]) -> None:
    """Run ``grow`` (a base statement marked ``-- repeat:``) until it adds no row.

    The one loop every engine uses to build a repeated base statement.

    Raises:
        BaseFailed: it still adds rows after MAX_REPEATS runs (the aggregation data holds a
            cycle, or is nested deeper than that).
    """
    for _ in range(MAX_REPEATS):
        if not grow():
            return
    raise BaseFailed(
        f"packing nested deeper than {MAX_REPEATS} levels: the aggregation events "
        "hold a cycle (a container packed, directly or not, inside itself)"
    )


def _adds_rows(con: duckdb.DuckDBPyConnection, statement: str) -> bool:
    """Run a repeated base statement; whether it added rows (its first value, a count)."""
    row = con.execute(statement).fetchone()
    return bool(row and row[0])


def _use_work_catalog(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute("SELECT current_database()").fetchone()
    home = str(row[0]) if row else "memory"
    if home == WORK_CATALOG:  # already set up on this connection
        return
    attached = {
        str(r[0]) for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    }
    if WORK_CATALOG not in attached:
        con.execute(f"ATTACH ':memory:' AS {WORK_CATALOG} (READ_WRITE)")
    # The names come from the database itself, which cannot hold a NUL in a name.
    path = f"{WORK_CATALOG}.main,{identifier(home)}.main"
    con.execute(f"USE {WORK_CATALOG}")
    con.execute(f"SET search_path = {literal(path)}")


def shared_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor of ``con`` that reads the base built by ``run_base(con, shared=True)``:
    a connection of its own with the connection's time zone and search path (see
    :func:`~traceability.store.session_cursor`)."""
    return session_cursor(con)


def select(ids: list[str] | tuple[str, ...] | None) -> tuple[Rule, ...]:
    """The rules named by ids or group names (all rules for None), in registry order.

    Raises:
        UnknownRule: a name that is neither a rule id nor a group.
    """
    rules = all_rules()
    if not ids:
        return rules
    known = {r.id for r in rules}
    unknown = [i for i in ids if i not in known and i not in GROUPS]
    if unknown:
        raise UnknownRule(
            f"unknown rule {', '.join(repr(u) for u in unknown)}", hint=_hint(unknown)
        )
    wanted = set(ids)
    return tuple(r for r in rules if r.id in wanted or r.group in wanted)


def closest(name: str, limit: int = 3) -> list[str]:
    """The rule ids and groups nearest to ``name``: spelt alike, or holding it.

    >>> closest("over-exports")
    ['over-export']
    >>> closest("filing")
    ['filings', 'missing-filing', 'filing-mirror-gap']
    """
    names = [*(r.id for r in all_rules()), *GROUPS]
    alike = difflib.get_close_matches(name, names, n=limit, cutoff=0.6)
    holding = [n for n in names if name and (name in n or n in name) and n not in alike]
    return [*alike, *holding][:limit]


def _hint(unknown: list[str]) -> str:
    near = list(dict.fromkeys(n for u in unknown for n in closest(u)))
    listed = "'tracecheck rules' lists them"
    return f"did you mean {', '.join(near)}? {listed}" if near else listed


# --- the catalogue as the `rules` command shows it ------------------------------------------


def rule_entry(rule: Rule) -> dict[str, object]:
    """Everything a rule's header says, with its parameters and its file, for JSON."""
    return {
        "id": rule.id,
        "group": rule.group,
        "severity": rule.severity.value,
        "checks": rule.checks,
        "why": rule.why,
        "tolerance": rule.tolerance,
        "needs": list(rule.needs),
        "evidence": rule.evidence,
        "not_judged": rule.coverage_about or None,
        "remedy": rule.remedy or None,
        "parameters": list(dict.fromkeys([*rule.parameters, *rule.coverage_parameters])),
        "source": rule_source(rule),
    }


def rule_source(rule: Rule) -> str:
    """The rule's file, relative to the package's parent: ``traceability/rules/batch/x.sql``."""
    return f"{__name__.replace('.', '/')}/{rule.group}/{rule.id}.sql"


#: The parts of a rule's full description: (title, the entry key it shows).
SECTIONS = (
    ("What it checks", "checks"),
    ("Why it matters", "why"),
    ("Tolerance", "tolerance"),
    ("Inputs needed", "needs"),
    ("Evidence listed", "evidence"),
    ("Not judged", "not_judged"),
    ("Remedy before shipping", "remedy"),
    ("Parameters", "parameters"),
    ("Source", "source"),
)


def _section_text(value: object) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return None if value is None else str(value)


def describe(rule: Rule, width: int = 88) -> str:
    """A rule's full header as plain text: ``tracecheck rules ID``."""
    entry = rule_entry(rule)
    lines = [f"{rule.id} ({rule.group}; default severity {rule.severity.value})"]
    for title, key in SECTIONS:
        value = entry[key]
        if key == "parameters" and isinstance(value, list):
            value = [f"${p}" for p in value]
        text = _section_text(value)
        if text is None:
            continue
        lines += ["", f"{title}:"]
        lines += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines) + "\n"


def catalogue_json(rules: tuple[Rule, ...] | list[Rule]) -> str:
    """The rules as a JSON list of :func:`rule_entry` objects: ``rules --format json``."""
    return json.dumps([rule_entry(r) for r in rules], indent=2, ensure_ascii=False) + "\n"


def catalogue_md(rules: tuple[Rule, ...] | list[Rule]) -> str:
    """The rules as Markdown: a summary table, then each rule's full header."""
    out = ["| rule | group | severity | checks |", "| --- | --- | --- | --- |"]
    out += [f"| `{r.id}` | {r.group} | {r.severity.value} | {escape(r.checks)} |" for r in rules]
    for r in rules:
        entry = rule_entry(r)
        out += ["", f"## {r.id}", ""]
        out.append(f"- **Severity:** {r.severity.value}")
        for title, key in SECTIONS:
            text = _section_text(entry[key])
            if text is None:
                continue
            shown = f"`{text}`" if key == "source" else escape(text)
            out.append(f"- **{title}:** {shown}")
    return "\n".join(out) + "\n"
