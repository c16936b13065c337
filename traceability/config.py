"""Reconciliation settings: tolerances, windows, severity overrides and rule selection.

Defaults are built in; a TOML file overrides any of them. Every key, its default and its
meaning are defined once, in :data:`SETTINGS`: the checks of a file, ``tracecheck config
--example`` (:func:`example_toml`) and ``tracecheck config --show`` (:func:`show_toml`) all
read that one definition. Reading and checking a file (which needs the rule catalogue)
is :mod:`traceability.rules.settings`.

A :class:`Config` remembers the file it came from, how that file was found (the order is
:data:`FOUND_BY`) and the line of each key the file set; the report records them
(:meth:`Config.report_entry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

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


def _setting(section: str, key: str) -> Setting:
    return next(s for s in SETTINGS if s.section == section and s.key == key)


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
