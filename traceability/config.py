"""Reconciliation settings: tolerances, windows, severity overrides and rule selection.

Defaults are built in; a TOML file (``--config FILE``) overrides any of them::

    [tolerances]
    tol_units = 0          # counted products: units
    tol_mass_pct = 0.5     # bulk mass: percent of the expected quantity ...
    tol_mass_kg = 0.001    # ... or this many kg, whichever is larger
    tol_mirror_pct = 2     # country-level mirror totals: percent
    window_days = 60       # export -> import, shipped -> received

    [severity]             # rule id = severity
    late-arrival = "high"

    [rules]
    run = ["batch", "mirror-quantity-gap"]   # rule ids or groups; default: all
    skip = ["missing-filing"]

    [preflight]            # tracecheck preflight
    min_shelf_life_days = 180   # a lot must have this many days left on the ship date
    rules = ["serial", "authorisations"]     # default: the preflight rule set

    [missing_filing]       # the missing-filing rule
    countries = ["IN"]     # the countries whose returns are collected: only their parties
                           # are judged (and only their returns show a period's returns are
                           # in); the parties of other countries are listed as not judged.
                           # Default: every country.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from traceability.errors import InputError
from traceability.model import Severity

DEFAULT_TOLERANCES: dict[str, Decimal] = {
    "tol_units": Decimal("0"),
    "tol_mass_pct": Decimal("0.5"),
    "tol_mass_kg": Decimal("0.001"),
    "tol_mirror_pct": Decimal("2"),
}
DEFAULT_WINDOW_DAYS = 60
_SECTIONS = {"tolerances", "severity", "rules", "preflight", "missing_filing"}
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class PreflightSettings:
    """Settings of ``tracecheck preflight``: minimum shelf life and the rules it runs."""

    min_shelf_life_days: int = 0
    rules: tuple[str, ...] = ()  # rule ids or groups; empty: the preflight rule set


@dataclass(frozen=True)
class Config:
    """The settings of one reconciliation (all defaults when built with no arguments)."""

    tolerances: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    window_days: int = DEFAULT_WINDOW_DAYS
    severity: Mapping[str, Severity] = field(default_factory=dict)
    run: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    preflight: PreflightSettings = field(default_factory=PreflightSettings)
    #: missing-filing: the countries whose returns are collected (None: every country)
    collected_countries: tuple[str, ...] | None = None

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


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InputError(f"{where}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InputError(f"{where}: expected a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise InputError(f"{where}: expected a number of 0 or more, got {value!r}")
    # Written out in full: 5e1 reaches DuckDB as a decimal parameter in plain notation
    # (an exponent form such as Decimal('5E+1') would be read wrongly there).
    return Decimal(format(number, "f"))


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of rule ids or groups")
    return tuple(value)


def from_mapping(data: Mapping[str, Any], *, source: str = "config") -> Config:
    """Settings from parsed TOML (numbers as Decimal), checked strictly.

    Raises:
        InputError: an unknown section or key, a bad number, an unknown severity.

    >>> from_mapping({"tolerances": {"window_days": 30}}).window_days
    30
    """
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise InputError(
            f"{source}: unknown section {', '.join(unknown)}",
            hint=f"sections are {', '.join(sorted(_SECTIONS))}",
        )
    config = Config()
    tol = dict(config.tolerances)
    window = config.window_days
    for key, value in _table(data, "tolerances", source).items():
        where = f"{source}: tolerances.{key}"
        if key == "window_days":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{where}: expected a whole number of days, got {value!r}")
            window = value
        elif key in tol:
            tol[key] = _decimal(value, where)
        else:
            known = ", ".join([*DEFAULT_TOLERANCES, "window_days"])
            raise InputError(f"{where}: unknown tolerance", hint=f"known: {known}")
    severity: dict[str, Severity] = {}
    for rule, value in _table(data, "severity", source).items():
        try:
            severity[rule] = Severity(value)
        except ValueError:
            levels = ", ".join(s.value for s in Severity)
            raise InputError(
                f"{source}: severity.{rule}: unknown severity {value!r}", hint=f"one of {levels}"
            ) from None
    rules = _table(data, "rules", source)
    bad = sorted(set(rules) - {"run", "skip"})
    if bad:
        raise InputError(f"{source}: rules.{bad[0]}: unknown key", hint="use run or skip")
    return Config(
        tolerances=tol,
        window_days=window,
        severity=severity,
        run=_names(rules.get("run", []), f"{source}: rules.run"),
        skip=_names(rules.get("skip", []), f"{source}: rules.skip"),
        preflight=_preflight(_table(data, "preflight", source), source),
        collected_countries=_collected(_table(data, "missing_filing", source), source),
    )


def _preflight(data: Mapping[str, Any], source: str) -> PreflightSettings:
    bad = sorted(set(data) - {"min_shelf_life_days", "rules"})
    if bad:
        raise InputError(
            f"{source}: preflight.{bad[0]}: unknown key", hint="use min_shelf_life_days or rules"
        )
    days = data.get("min_shelf_life_days", 0)
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InputError(
            f"{source}: preflight.min_shelf_life_days: expected a whole number of days, "
            f"got {days!r}"
        )
    rules = _names(data.get("rules", []), f"{source}: preflight.rules")
    return PreflightSettings(min_shelf_life_days=days, rules=rules)


def _collected(data: Mapping[str, Any], source: str) -> tuple[str, ...] | None:
    """``[missing_filing] countries``: ISO 3166-1 alpha-2 codes, sorted; None when not set."""
    bad = sorted(set(data) - {"countries"})
    if bad:
        raise InputError(f"{source}: missing_filing.{bad[0]}: unknown key", hint="use countries")
    if "countries" not in data:
        return None
    where = f"{source}: missing_filing.countries"
    value = data["countries"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f'{where}: expected a list of country codes, such as ["IN"]')
    countries = sorted({v.strip().upper() for v in value})
    if not countries:
        raise InputError(
            f"{where}: no country given",
            hint="list the countries whose returns are collected, or skip the rule: "
            '[rules] skip = ["missing-filing"]',
        )
    for code in countries:
        if not _COUNTRY.fullmatch(code):
            raise InputError(
                f"{where}: {code!r} is not an ISO 3166-1 alpha-2 country code", hint="e.g. IN"
            )
    return tuple(countries)


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise InputError(f"{source}: [{name}] must be a table")
    return value


def load_config(path: str | Path) -> Config:
    """Read a TOML settings file.

    Raises:
        InputError: the file is missing, not TOML, or breaks the settings schema.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f, parse_float=Decimal)
    except OSError as exc:
        raise InputError(f"{path}: cannot read config ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    return from_mapping(data, source=str(path))
