"""Reading a settings file, checked against the rule catalogue.

:mod:`traceability.config` defines the settings (:class:`~traceability.config.Config`,
every key in :data:`~traceability.config.SETTINGS`); this module reads them from TOML and
checks them strictly. The rule ids a file names (``[rules] run``, ``skip``,
``[preflight] rules``, the keys of ``[severity]``) must be in the catalogue, which is why
the reading sits here, above the settings and beside the rules.

Which file is read (:func:`find_config`): the one given (``--config FILE``), else the one
the environment variable ``TRACECHECK_CONFIG`` names, else ``tracecheck.toml`` in the
current directory, else none (the defaults).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from traceability.config import (
    DEFAULT_TOLERANCES,
    DEFAULT_WINDOW_DAYS,
    ENV_VAR,
    LOCAL_FILE,
    SETTINGS,
    Config,
    PreflightSettings,
)
from traceability.errors import InputError
from traceability.model import Severity
from traceability.rules import GROUPS, all_rules

_SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))
_COUNTRY = re.compile(r"[A-Z]{2}")


def _keys(section: str) -> list[str]:
    return [s.key for s in SETTINGS if s.section == section]


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
