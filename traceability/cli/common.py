"""What every command shares: options, verbosity, writing the result, and the error boundary."""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import click
import duckdb
from rich.console import Console

from traceability.config import Config
from traceability.diff import Diff
from traceability.errors import (
    ExitCode,
    InputError,
    StrictLoadAborted,
    TracecheckError,
    resource_error,
)
from traceability.inert import inert
from traceability.load import LoadResult
from traceability.model import Report, Severity
from traceability.preflight import Preflight
from traceability.render import formats, is_binary, names, render, render_bytes
from traceability.render.registry import CAVEATS_SHOWN, DEFAULT_WIDTH, Kind
from traceability.render.to_table import Unpadded
from traceability.rules.settings import resolve_config

F = TypeVar("F", bound=Callable[..., Any])
MAX_REJECTS_SHOWN = 20
QUIET, NORMAL, VERBOSE = -1, 0, 1
#: What the renderers call what a command writes: a preflight's is its "result".
_WRITES: dict[str, Kind] = {"report": "report", "diff": "diff", "result": "preflight"}


class Tracecheck(click.Group):
    """The one error boundary: library errors become one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StrictLoadAborted as exc:
            result: LoadResult | None = getattr(exc, "result", None)
            if result is not None:
                print_rejections(result, err=True)
            click.echo(f"error: {plain(str(exc))}", err=True)
            ctx.exit(int(exc.exit_code))
        except TracecheckError as exc:
            click.echo(f"error: {plain(str(exc))}", err=True)
            ctx.exit(int(exc.exit_code))
        except (MemoryError, OSError, duckdb.Error) as exc:  # memory or disk ran out
            short = resource_error(exc, _db_named(ctx))
            if short is None:
                raise
            click.echo(f"error: {plain(str(short))}", err=True)
            ctx.exit(int(short.exit_code))
        except click.ClickException as exc:  # a usage error may quote an argument as given
            vars(exc)["message"] = plain(exc.message)  # (``message`` is Final in its types)
            raise


def _db_named(ctx: click.Context) -> str | None:
    """The --db given to the command being run (or TRACECHECK_DB), for an error to name."""
    args = [*ctx.protected_args, *ctx.args]
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--db="):
            return arg[len("--db=") :]
    return os.environ.get("TRACECHECK_DB")


def plain(text: str) -> str:
    r"""Text that may come from a file (a name, a column, a value) made safe to print.

    Control characters and line breaks are shown escaped, so nothing a file holds can
    recolour the terminal, move its cursor or add a line to the output.

    The one escape every output uses, :func:`traceability.inert.inert`: control, bidi and
    zero-width characters too.

    >>> print(plain("a\x1b[31mb\nc\u200b"))
    a\x1b[31mb\nc\u200b
    """
    return inert(text)


def verbosity_options(f: F) -> F:
    """``--quiet`` and ``--verbose``: how much a command prints besides its result."""

    def keep(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if not value:
            return
        level = QUIET if param.name == "quiet" else VERBOSE
        if ctx.meta.get("tracecheck.verbosity", level) != level:
            raise click.UsageError("--quiet and --verbose exclude each other")
        ctx.meta["tracecheck.verbosity"] = level

    f = click.option(
        "--verbose",
        "-v",
        "verbose",
        is_flag=True,
        expose_value=False,
        callback=keep,
        help="Print every note, rejected record and caveat, not only the first ones "
        "(e.g. 'load -v' lists all rejected records, not the first 20).",
    )(f)
    return click.option(
        "--quiet",
        "-q",
        "quiet",
        is_flag=True,
        expose_value=False,
        callback=keep,
        help="Print only the result and errors: no summary tables, progress, notes or "
        "warnings (e.g. 'load -q' prints only the rejected records).",
    )(f)


def verbosity() -> int:
    """QUIET, NORMAL or VERBOSE, as the command's options say."""
    ctx = click.get_current_context(silent=True)
    level: int = ctx.meta.get("tracecheck.verbosity", NORMAL) if ctx else NORMAL
    return level


def width(terminal: bool) -> int:
    """Columns for a table: $COLUMNS when set, else the terminal's width; DEFAULT_WIDTH for
    a file or a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if terminal else DEFAULT_WIDTH


def db_option(f: F) -> F:
    """``--db``, also read from TRACECHECK_DB."""
    return click.option(
        "--db",
        envvar="TRACECHECK_DB",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="DuckDB database file (or set TRACECHECK_DB).",
    )(f)


def format_options(what: str) -> Callable[[F], F]:
    """The --format and --output options of a command that writes a report, diff or result
    (a preflight's): the choices are the registry's formats that render it."""
    kind = _WRITES[what]
    binary = [name for name in names(kind) if formats()[name].binary]
    needs_file = f"{' or '.join(binary)} need{'s' * (len(binary) == 1)} --output FILE"

    def add(command: F) -> F:
        command = click.option(
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Write the {what} to this file ('-' for standard output, the default).",
        )(command)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(names(kind)),
            help=_format_help(what, needs_file if binary else ""),
        )(command)

    return add


def _format_help(what: str, needs_file: str) -> str:
    if what == "report":
        return "Report format (default: table on a terminal, json otherwise" + (
            f"; {needs_file})." if needs_file else ")."
        )
    return "Output format (default: table on a terminal, json otherwise)." + (
        f" {needs_file}." if needs_file else ""
    )


def caveated_option(f: F) -> F:
    """``--count-caveated/--ignore-caveated``: whether --fail-on counts caveated findings."""
    return click.option(
        "--count-caveated/--ignore-caveated",
        "count_caveated",
        default=True,
        help="Whether --fail-on counts the findings that carry caveats (a record the load "
        "rejected names their subject, so they may be wrong for want of it). Default: count "
        "them; --ignore-caveated leaves them out of --fail-on (they stay in the report).",
    )(f)


#: Keys of settings that hold a credential (lower case; ``spark.hadoop.`` aside).
_SECRET_KEY = re.compile(
    r"secret|password|passwd|access\.key|account\.key|private\.key|(?<!delegation\.)token"
)
_WHERE_CREDENTIALS_GO = (
    "credentials go in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
    "AWS_SESSION_TOKEN, read by the default credential provider chain), in core-site.xml "
    "or in spark-defaults.conf"
)
_SPARK_OPTIONS = ("--master", "--conf", "--packages", "--repositories")


@dataclass(frozen=True)
class SparkSettings:
    """What :func:`spark_options` read: the master (None: the default chain) and settings."""

    master: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    given: tuple[str, ...] = ()

    def only_with_spark(self, engine: str) -> None:
        """Refuse the Spark options with another engine."""
        if engine != "spark" and self.given:
            verb = "goes" if len(self.given) == 1 else "go"
            raise InputError(f"{', '.join(self.given)} {verb} with --engine spark")


def _conf_pair(text: str) -> tuple[str, str]:
    """KEY=VALUE of a ``--conf``: checked, and refused when the key names a credential."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals:
        raise InputError(
            f"--conf {text}: give KEY=VALUE", hint="e.g. --conf spark.executor.memory=8g"
        )
    if not key:
        raise InputError(f"--conf {text}: the key is empty", hint="give KEY=VALUE")
    if _SECRET_KEY.search(key.lower()):
        raise InputError(
            f"--conf {key}: a credential is refused on the command line, where the process "
            "list shows it and the shell's history keeps it",
            hint=_WHERE_CREDENTIALS_GO,
        )
    return key, value


def _coordinates(option: str, text: str, parts: int) -> str:
    """A comma-separated list of ``option``, each item of ``parts`` non-empty parts."""
    items = [item.strip() for item in text.split(",")]
    for item in items:
        if parts and (len(item.split(":")) != parts or not all(item.split(":"))):
            raise InputError(
                f"{option} {item}: not a Maven coordinate", hint="give group:artifact:version"
            )
        if not item:
            raise InputError(f"{option} {text}: an empty item")
    return ",".join(items)


def spark_settings(
    master: str | None,
    conf: tuple[str, ...],
    packages: str | None,
    repositories: str | None,
) -> SparkSettings:
    """The Spark options of a command, checked: one :class:`SparkSettings`."""
    settings = dict(_conf_pair(text) for text in conf)
    for option, key, value, parts in (
        ("--packages", "spark.jars.packages", packages, 3),
        ("--repositories", "spark.jars.repositories", repositories, 0),
    ):
        if value is None:
            continue
        if key in settings:
            raise InputError(f"{option} and --conf {key} say the same: give one")
        settings[key] = _coordinates(option, value, parts)
    given = (master, conf, packages, repositories)
    named = tuple(name for name, value in zip(_SPARK_OPTIONS, given, strict=True) if value)
    return SparkSettings(master, settings, named)


def spark_options(f: F) -> F:
    """``--master``, ``--conf``, ``--packages`` and ``--repositories``: where Spark runs and
    its settings, given to the command as ``spark`` (:class:`SparkSettings`)."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        options = (kwargs.pop(name) for name in ("master", "conf", "packages", "repositories"))
        return f(*args, spark=spark_settings(*options), **kwargs)

    for option in reversed(_spark_option_list()):
        command = option(command)
    return cast(F, command)


def _spark_option_list() -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    return [
        click.option(
            "--master",
            metavar="URL",
            help="Spark master for --engine spark: local[N], spark://HOST:7077, yarn, "
            "k8s://https://HOST:443 (default: $TRACECHECK_SPARK_MASTER, else local[2]).",
        ),
        click.option(
            "--conf",
            metavar="KEY=VALUE",
            multiple=True,
            help="A Spark setting for --engine spark, repeatable (e.g. --conf "
            "spark.executor.memory=8g --conf spark.sql.shuffle.partitions=400). Credentials "
            "are refused here: they go in the environment, core-site.xml or "
            "spark-defaults.conf.",
        ),
        click.option(
            "--packages",
            metavar="G:A:V[,G:A:V]",
            help="Maven packages Spark fetches and puts on its class path, for --engine "
            "spark (spark.jars.packages; e.g. org.apache.hadoop:hadoop-aws:3.5.0 for s3a://).",
        ),
        click.option(
            "--repositories",
            metavar="URL[,URL]",
            help="More Maven repositories --packages is searched in (spark.jars.repositories).",
        ),
    ]


def console() -> Console:
    """Standard output as wide as the terminal (DEFAULT_WIDTH for a file or a pipe), with
    no line padded with spaces."""
    columns = width(sys.stdout.isatty())
    return Console(file=cast(IO[str], Unpadded(lambda: sys.stdout)), highlight=False, width=columns)


def print_rejections(result: LoadResult, *, err: bool = False) -> None:
    """The first rejected records of a load (all with --verbose), then how many more."""
    shown = result.rejections[: None if verbosity() == VERBOSE else MAX_REJECTS_SHOWN]
    for r in shown:
        click.echo(plain(str(r)), err=err)
    more = max(result.rejections_stored, len(result.rejections)) - len(shown)
    if more > 0:
        click.echo(f"... and {more} more (all are in the rejects table)", err=err)


def write(text: str, output: Path | None) -> None:
    """Text to ``--output`` (standard output for none or ``-``)."""
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TracecheckError(f"{output}: cannot write report ({exc.strerror})") from None


def emit(
    obj: Report | Diff | Preflight,
    fmt: str | None,
    output: Path | None,
    *,
    caveats_shown: int | None = CAVEATS_SHOWN,
) -> None:
    """Write a report, a diff or a preflight in ``fmt`` (default: table on a terminal, json
    otherwise). A text format goes as :func:`write` does, as wide as the terminal and in
    colour when it is one; a binary one (xlsx) to ``--output FILE``, or to standard output
    when that is not a terminal."""
    terminal = (output is None or str(output) == "-") and sys.stdout.isatty()
    fmt = fmt or ("table" if terminal else "json")
    if not is_binary(fmt):
        shown = render(obj, fmt, width=width(terminal), color=terminal, caveats_shown=caveats_shown)
        write(shown, output)
        return
    if output is None:
        suffix = formats()[fmt].suffix
        raise InputError(
            f"--format {fmt} writes a binary file: give --output FILE", hint=f"e.g. report{suffix}"
        )
    stream = sys.stdout.buffer if str(output) == "-" else None
    if stream is not None and stream.isatty():
        raise InputError(
            f"refusing to write {fmt} (binary) to a terminal",
            hint="give --output FILE, or redirect standard output to a file",
        )
    data = render_bytes(obj, fmt)
    if stream is not None:
        stream.write(data)
        stream.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise TracecheckError(f"{output}: cannot write report ({exc.strerror})") from None


def settings(given: Path | None) -> Config:
    """The settings in effect: ``--config``, else $TRACECHECK_CONFIG, else ./tracecheck.toml,
    else the defaults; a file found without ``--config`` is named on standard error."""
    config = resolve_config(given)
    if config.file and config.found_by != "--config" and verbosity() != QUIET:
        how = "named by" if config.found_by.isupper() else "found as"
        click.echo(f"note: settings from {plain(config.file)} ({how} {config.found_by})", err=True)
    return config


def exit_for(report: Report, fail_on: str | None, count_caveated: bool = True) -> None:
    """Exit 1 when the report fails ``--fail-on``."""
    if fail_on is None:
        return
    if report.fails(Severity(fail_on), caveated=count_caveated, allow_empty=True):
        sys.exit(int(ExitCode.FINDINGS))
