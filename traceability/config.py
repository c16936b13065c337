"""Reconciliation settings: tolerances, windows, severity overrides and rule selection.

Defaults are built in; a TOML file overrides any of them. Every key, its default and its
meaning are defined once, in :data:`SETTINGS`: the checks of a file, ``tracecheck config
--example`` (:func:`example_toml`) and ``tracecheck config --show`` (:func:`show_toml`) all
read that one definition.

Which file is read (:func:`find_config`): the one given (``--config FILE``), else the one
the environment variable ``TRACECHECK_CONFIG`` names, else ``tracecheck.toml`` in the
current directory, else none (the defaults). A :class:`Config` remembers the file it came
from, how that file was found and the line of each key the file set; the report records
them (:meth:`Config.report_entry`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from traceability.errors import InputError
from traceability.model import Severity

#: The environment variable naming a settings file, read when ``--config`` is not given.
ENV_VAR = "TRACECHECK_CONFIG"
#: The settings file read from the current directory when neither of the above is given.
LOCAL_FILE = "tracecheck.toml"
#: How a settings file was found (``found_by``), in the order they are tried.
FOUND_BY = ("--config", ENV_VAR, f"./{LOCAL_FILE}", "defaults")


@dataclass(frozen=True)
class Setting:
    """One key of the settings file: where it goes, its default and what it means.

    ``default`` is the value a file that leaves the key out gets (None: not set, with the
    meaning ``meaning`` gives); ``example`` is a value shown, commented out, by the example
    file when there is no default to show. The ``severity`` table's key is a rule id, shown
    as ``<rule-id>``.
    """

    section: str
    key: str
    default: Decimal | int | tuple[str, ...] | None
    meaning: str
    example: str = ""

    @property
    def name(self) -> str:
        """``section.key``, as errors and ``--show`` name it."""
        return f"{self.section}.{self.key}"


#: Every settings key, in the order the example file shows them.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "tolerances",
        "tol_units",
        Decimal("0"),
        "counted products: a difference of up to this many units is not a finding",
    ),
    Setting(
        "tolerances",
        "tol_mass_pct",
        Decimal("0.5"),
        "bulk mass: a difference of up to this percent of the expected quantity is not a "
        "finding ...",
    ),
    Setting(
        "tolerances",
        "tol_mass_kg",
        Decimal("0.001"),
        "... or of up to this many kg, whichever is larger",
    ),
    Setting(
        "tolerances",
        "tol_mirror_pct",
        Decimal("2"),
        "country-level mirror totals: a gap of up to this percent is not a finding",
    ),
    Setting(
        "tolerances",
        "window_days",
        60,
        "days allowed from export to import and from shipped to received; a window still "
        "open on the as-of date is pending",
    ),
    Setting(
        "severity",
        "<rule-id>",
        None,
        "a rule's severity (critical, high, medium, low, info) instead of its own; "
        "default: each rule's own (tracecheck rules lists them)",
        example='late-arrival = "high"',
    ),
    Setting(
        "rules",
        "run",
        (),
        "the rule ids or groups to run (batch, mirror, serial, filings, authorisations); "
        "empty: every rule",
    ),
    Setting("rules", "skip", (), "rule ids or groups not to run"),
    Setting(
        "preflight",
        "min_shelf_life_days",
        0,
        "tracecheck preflight: a lot must have this many days left on the ship date",
    ),
    Setting(
        "preflight",
        "rules",
        (),
        "tracecheck preflight: the rule ids or groups it runs; empty: the preflight rule set",
    ),
    Setting(
        "missing_filing",
        "countries",
        None,
        "the missing-filing rule: the countries whose returns are collected; only their "
        "parties are judged, the others are listed as not judged; default: every country",
        example='["IN"]',
    ),
)

_SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))
_COUNTRY = re.compile(r"[A-Z]{2}")


def _setting(section: str, key: str) -> Setting:
    return next(s for s in SETTINGS if s.section == section and s.key == key)


def _keys(section: str) -> list[str]:
    return [s.key for s in SETTINGS if s.section == section]


def _default_int(section: str, key: str) -> int:
    value = _setting(section, key).default
    assert isinstance(value, int)
    return value


DEFAULT_TOLERANCES: dict[str, Decimal] = {
    s.key: s.default for s in SETTINGS if isinstance(s.default, Decimal)
}
DEFAULT_WINDOW_DAYS = _default_int("tolerances", "window_days")


@dataclass(frozen=True)
class PreflightSettings:
    """Settings of ``tracecheck preflight``: minimum shelf life and the rules it runs."""

    min_shelf_life_days: int = _default_int("preflight", "min_shelf_life_days")
    rules: tuple[str, ...] = ()  # rule ids or groups; empty: the preflight rule set


@dataclass(frozen=True)
class Config:
    """The settings of one reconciliation (all defaults when built with no arguments).

    ``file`` is the settings file they were read from (None: the defaults), ``found_by``
    how it was found (one of :data:`FOUND_BY`), and ``given`` maps each ``section.key``
    the file set to its line. None of the three takes part in comparisons.
    """

    tolerances: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    window_days: int = DEFAULT_WINDOW_DAYS
    severity: Mapping[str, Severity] = field(default_factory=dict)
    run: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    preflight: PreflightSettings = field(default_factory=PreflightSettings)
    #: missing-filing: the countries whose returns are collected (None: every country)
    collected_countries: tuple[str, ...] | None = None
    file: str | None = field(default=None, compare=False)
    found_by: str = field(default="defaults", compare=False)
    given: Mapping[str, int | None] = field(default_factory=dict, compare=False)

    def parameters(self) -> dict[str, Decimal | int | str | None]:
        """The rule parameters these settings give (``$tol_units``, ``$window_days``, ...).

        ``$collected_countries`` is the countries comma-separated (``'IN,US'``), or NULL
        for every country.
        """
        countries = self.collected_countries
        return {
            **self.tolerances,
            "window_days": self.window_days,
            "collected_countries": None if countries is None else ",".join(countries),
        }

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def settings(self) -> dict[str, dict[str, Any]]:
        """Every setting in effect, shaped like the file (decimals as exact strings).

        >>> Config().settings()["tolerances"]["tol_mass_pct"]
        '0.5'
        """
        countries = self.collected_countries
        return {
            "tolerances": {
                **{k: format(v, "f") for k, v in self.tolerances.items()},
                "window_days": self.window_days,
            },
            "severity": {k: v.value for k, v in sorted(self.severity.items())},
            "rules": {"run": list(self.run), "skip": list(self.skip)},
            "preflight": {
                "min_shelf_life_days": self.preflight.min_shelf_life_days,
                "rules": list(self.preflight.rules),
            },
            "missing_filing": {"countries": None if countries is None else list(countries)},
        }

    def report_entry(self) -> dict[str, Any]:
        """The report's ``config``: the file read, how it was found, what it set, and
        every setting in effect."""
        return {
            "file": self.file,
            "found_by": self.found_by,
            "from_file": sorted(self.given),
            "settings": self.settings(),
        }


class _Invalid(Exception):
    """A key of a settings file that breaks the schema (turned into an InputError)."""

    def __init__(self, section: str, key: str | None, message: str, hint: str | None = None):
        super().__init__(message)
        self.section = section
        self.key = key
        self.message = message
        self.hint = hint

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" if self.key else f"[{self.section}]"


def _decimal(value: Any, section: str, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _Invalid(section, key, f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _Invalid(section, key, f"expected a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise _Invalid(section, key, f"expected a number of 0 or more, got {value!r}")
    # Written out in full: 5e1 reaches DuckDB as a decimal parameter in plain notation
    # (an exponent form such as Decimal('5E+1') would be read wrongly there).
    return Decimal(format(number, "f"))


def _days(value: Any, section: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(section, key, f"expected a whole number of days, got {value!r}")
    return value


def _names(value: Any, section: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(section, key, "expected a list of rule ids or groups")
    from traceability.rules import GROUPS, all_rules

    known = {r.id for r in all_rules()} | set(GROUPS)
    for name in value:
        if name not in known:
            raise _Invalid(
                section, key, f"unknown rule {name!r}", hint="'tracecheck rules' lists them"
            )
    return tuple(value)


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise _Invalid(name, None, "must be a table")
    return value


def _check_keys(data: Mapping[str, Any], section: str) -> None:
    known = _keys(section)
    for key in data:
        if key not in known:
            raise _Invalid(section, key, "unknown key", hint=f"known: {', '.join(known)}")


def _parse(data: Mapping[str, Any]) -> Config:
    for name in data:
        if name not in _SECTIONS:
            raise _Invalid(name, None, "unknown section", hint=f"sections: {', '.join(_SECTIONS)}")
    tables = {name: _table(data, name) for name in _SECTIONS}
    for name in ("tolerances", "rules", "preflight", "missing_filing"):
        _check_keys(tables[name], name)
    tol = dict(DEFAULT_TOLERANCES)
    window = DEFAULT_WINDOW_DAYS
    for key, value in tables["tolerances"].items():
        if key == "window_days":
            window = _days(value, "tolerances", key)
        else:
            tol[key] = _decimal(value, "tolerances", key)
    from traceability.rules import all_rules

    rule_ids = {r.id for r in all_rules()}
    severity: dict[str, Severity] = {}
    for rule, value in tables["severity"].items():
        if rule not in rule_ids:
            raise _Invalid("severity", rule, "unknown rule", hint="'tracecheck rules' lists them")
        try:
            severity[rule] = Severity(value)
        except ValueError:
            levels = ", ".join(s.value for s in Severity)
            raise _Invalid(
                "severity", rule, f"unknown severity {value!r}", hint=f"one of {levels}"
            ) from None
    rules, pre = tables["rules"], tables["preflight"]
    return Config(
        tolerances=tol,
        window_days=window,
        severity=severity,
        run=_names(rules.get("run", []), "rules", "run"),
        skip=_names(rules.get("skip", []), "rules", "skip"),
        preflight=PreflightSettings(
            min_shelf_life_days=_days(
                pre.get("min_shelf_life_days", PreflightSettings.min_shelf_life_days),
                "preflight",
                "min_shelf_life_days",
            ),
            rules=_names(pre.get("rules", []), "preflight", "rules"),
        ),
        collected_countries=_collected(tables["missing_filing"]),
    )


def _collected(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    """``[missing_filing] countries``: ISO 3166-1 alpha-2 codes, sorted; None when not set."""
    if "countries" not in data:
        return None
    value = data["countries"]
    where = ("missing_filing", "countries")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(*where, 'expected a list of country codes, such as ["IN"]')
    countries = sorted({v.strip().upper() for v in value})
    if not countries:
        raise _Invalid(
            *where,
            "no country given",
            hint="list the countries whose returns are collected, or skip the rule: "
            '[rules] skip = ["missing-filing"]',
        )
    for code in countries:
        if not _COUNTRY.fullmatch(code):
            raise _Invalid(
                *where, f"{code!r} is not an ISO 3166-1 alpha-2 country code", hint="e.g. IN"
            )
    return tuple(countries)


def _given(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (section, key)
        for section, table in data.items()
        if isinstance(table, dict)
        for key in table
    ]


def from_mapping(data: Mapping[str, Any], *, source: str = "config") -> Config:
    """Settings from parsed TOML (numbers as Decimal), checked strictly.

    Raises:
        InputError: an unknown section, key or rule, a bad number, an unknown severity;
            the message names ``source`` and the key (``tolerances.tol_units``).

    >>> from_mapping({"tolerances": {"window_days": 30}}).window_days
    30
    """
    try:
        config = _parse(data)
    except _Invalid as bad:
        raise InputError(f"{source}: {bad.name}: {bad.message}", hint=bad.hint) from None
    return replace(config, given={f"{s}.{k}": None for s, k in _given(data)})


_TABLE_LINE = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]")
_KEY_AT = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_.-]+))\s*=""")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def key_line(text: str, section: str, key: str | None) -> int | None:
    """The line (from 1) of ``key`` in ``[section]`` of a TOML text; of the section's
    header when ``key`` is None or not found; None when neither is there.

    >>> key_line("[a]\\nx = 1\\n[b]\\nx = 2\\n", "b", "x")
    4
    >>> key_line('b.x = 1\\n"y" = 2\\n', "b", "x")
    1
    """
    current: str | None = None
    header: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        table = _TABLE_LINE.match(line)
        if table and not line.lstrip().startswith("[["):
            current = table.group(1)
            if current == section:
                header = number
            continue
        found = _KEY_AT.match(line)
        if not found:
            continue
        name = next(g for g in found.groups() if g is not None)
        if current == section and key is not None and name == key:
            return number
        if current is None and name in (section, f"{section}.{key}"):
            return number
    return header


def load_config(path: str | Path, *, found_by: str = "--config") -> Config:
    """Read a TOML settings file; ``found_by`` says how it was found (see :data:`FOUND_BY`).

    Raises:
        InputError: the file is missing, not TOML, or breaks the settings schema; the
            message names the file, the line and the key (``c.toml:3: tolerances.x: ...``).
    """
    path = Path(path)
    named = f"{path} (named by {ENV_VAR})" if found_by == ENV_VAR else str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"{named}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{named}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        where = f"{named}:{at.group(1)}" if at else named
        raise InputError(f"{where}: not valid TOML ({_TOML_AT.sub('', message)})") from None
    try:
        config = _parse(data)
    except _Invalid as bad:
        line = key_line(text, bad.section, bad.key)
        where = f"{named}:{line}" if line else named
        raise InputError(f"{where}: {bad.name}: {bad.message}", hint=bad.hint) from None
    given = {f"{s}.{k}": key_line(text, s, k) for s, k in _given(data)}
    return replace(config, file=str(path), found_by=found_by, given=given)


def find_config(
    given: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> tuple[Path | None, str]:
    """The settings file to read and how it was found: ``given`` (``--config``), else the
    file ``TRACECHECK_CONFIG`` names, else ``tracecheck.toml`` in ``cwd`` (default: the
    current directory), else ``(None, "defaults")``.

    >>> find_config("team.toml", environ={ENV_VAR: "other.toml"})
    (PosixPath('team.toml'), '--config')
    """
    if given is not None:
        return Path(given), "--config"
    named = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if named:
        return Path(named), ENV_VAR
    local = Path(LOCAL_FILE) if cwd is None else Path(cwd) / LOCAL_FILE
    if local.is_file():
        return local, f"./{LOCAL_FILE}"
    return None, "defaults"


def resolve_config(
    given: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> Config:
    """The settings in effect: read from the file :func:`find_config` finds, else the
    defaults.

    Raises:
        InputError: the file found cannot be read or breaks the settings schema.
    """
    path, found_by = find_config(given, environ=environ, cwd=cwd)
    return Config() if path is None else load_config(path, found_by=found_by)


# --- the example file and --show -----------------------------------------------------------


def toml_value(value: Any) -> str:
    """A setting's value as TOML.

    >>> toml_value(Decimal("0.5")), toml_value(("batch", "mirror")), toml_value("high")
    ('0.5', '["batch", "mirror"]', '"high"')
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _wrapped(text: str, width: int = 88) -> list[str]:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#"
        line = f"{line} {word}"
    return [*lines, line]


def example_toml() -> str:
    """A settings file with every key, its default and its meaning (``config --example``).

    Read as it is, it gives the defaults.
    """
    out = [
        "# tracecheck settings: every key with its default and what it means.",
        "# A key left out keeps its default. Read from --config FILE, else the file the",
        f"# environment variable {ENV_VAR} names, else ./{LOCAL_FILE}.",
    ]
    section = ""
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            out += ["", f"[{section}]"]
        out += _wrapped(s.meaning)
        if s.default is None:
            shown = s.example if "=" in s.example else f"{s.key} = {s.example}"
            out.append(f"# {shown}")
        else:
            out.append(f"{s.key} = {toml_value(s.default)}")
    return "\n".join(out) + "\n"


def _origin(config: Config, name: str) -> str:
    if name not in config.given:
        return "default"
    line = config.given[name]
    return f"{config.file}:{line}" if line else (config.file or "given")


def _raw(config: Config, s: Setting) -> Any:
    """A setting's value in ``config``, as :func:`toml_value` writes it."""
    if s.section == "tolerances":
        return config.window_days if s.key == "window_days" else config.tolerances[s.key]
    return {
        "rules.run": config.run,
        "rules.skip": config.skip,
        "preflight.min_shelf_life_days": config.preflight.min_shelf_life_days,
        "preflight.rules": config.preflight.rules,
        "missing_filing.countries": config.collected_countries,
    }[s.name]


def show_toml(config: Config) -> str:
    """The settings in effect as TOML, each key followed by where its value came from
    (``# default`` or ``# FILE:LINE``): ``tracecheck config --show``."""
    origin = {
        "--config": "given with --config",
        ENV_VAR: f"named by {ENV_VAR}",
        f"./{LOCAL_FILE}": "found in the current directory",
    }.get(config.found_by)
    head = (
        f"# settings in effect: {config.file} ({origin}) over the defaults"
        if config.file
        else f"# settings in effect: the defaults (no --config, no {ENV_VAR}, no ./{LOCAL_FILE})"
    )
    settings = config.settings()
    rows: list[tuple[str, str]] = []
    section = ""
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            rows += [("", ""), (f"[{section}]", "")]
        if s.key == "<rule-id>":
            for rule, level in settings["severity"].items():
                rows.append((f"{rule} = {toml_value(level)}", _origin(config, f"severity.{rule}")))
            if not settings["severity"]:
                rows.append(("# (none: each rule's own severity)", ""))
            continue
        value = _raw(config, s)
        if value is None:
            rows.append((f"# {s.key}: not set ({s.meaning.rsplit('; ', 1)[-1]})", ""))
        else:
            rows.append((f"{s.key} = {toml_value(value)}", _origin(config, s.name)))
    width = max(len(text) for text, why in rows if why)
    lines = [head]
    for text, why in rows:
        lines.append(f"{text.ljust(width)}  # {why}" if why else text)
    return "\n".join(lines) + "\n"
