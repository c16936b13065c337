"""What a load did, for a terminal: the summary per file, then its notes and remarks.

The summary is a table (file, kind, records, accepted, duplicates, conflicts, rejected, and
notes when there are some) where it fits the console's width, else a block of lines per
file. After it: the first notes of each file, the paths skipped, the files already loaded,
extra columns kept and conflicts. Every name and message from the data is shown inert and
never read as rich markup.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from traceability.inert import inert
from traceability.load import LoadResult

#: How many notes of each file are shown by default (the load_notes table has them all).
NOTES_SHOWN = 5


def shown_path(path: str, base: Path | None) -> str:
    """A file's path as shown: relative to ``base`` when under it, inert."""
    if base is not None:
        try:
            return inert(str(Path(path).relative_to(base)))
        except ValueError:
            pass
    return inert(path)


def print_load_summary(
    result: LoadResult,
    console: Console,
    base: Path | None = None,
    *,
    notes_shown: int | None = NOTES_SHOWN,
) -> None:
    """The summary, as a table or stacked to fit ``console``, then the lines that follow it.
    ``notes_shown``: how many notes of each file are listed (None: all)."""
    longest = max((len(shown_path(f.path, base)) for f in result.files), default=0)
    kind = max((len(f.kind) for f in result.files), default=4)
    # Beside the file's name: the kind, five counts (their headers are the widest), the
    # notes when there are some, two spaces of padding a column and the rules between.
    beside = kind + 42 + 8 * any(f.notes for f in result.files) + 3 * 7 + 1
    if result.files and longest + beside > console.width:
        _print_stacked(result, console, base)
    else:
        console.print(_summary_table(result, base))
    _print_load_lines(result, console, base, notes_shown)


def _print_stacked(result: LoadResult, console: Console, base: Path | None) -> None:
    """The load summary as a block per file, for a terminal too narrow for the table."""
    console.print("Load summary", markup=False)
    for f in result.files:
        console.print(shown_path(f.path, base), markup=False, soft_wrap=True)
        if f.status == "already-loaded":
            console.print(f"  {f.kind}: already loaded, skipped", markup=False)
            continue
        counts = [
            f"{f.records} records",
            f"{f.accepted} accepted",
            f"{f.duplicates} duplicates",
            f"{f.conflicts} conflicts",
            f"{f.rejected} rejected",
        ]
        if f.notes:
            counts.append(f"{f.notes} notes")
        console.print(f"  {f.kind}: {', '.join(counts)}", markup=False)


def _summary_table(result: LoadResult, base: Path | None) -> Table:
    table = Table(title="Load summary", title_justify="left")
    columns = ["file", "kind", "records", "accepted", "duplicates", "conflicts", "rejected"]
    noted = any(f.notes for f in result.files)  # the notes column, when there are notes
    for name in columns + ["notes"] * noted:
        left = name in ("file", "kind")
        table.add_column(
            name, justify="left" if left else "right", no_wrap=not left, overflow="fold"
        )
    for f in result.files:
        if f.status == "already-loaded":
            table.add_row(
                escape(shown_path(f.path, base)),
                f.kind,
                "-",
                "skipped",
                "-",
                "-",
                "-",
                *["-"] * noted,
            )
            continue
        table.add_row(
            escape(shown_path(f.path, base)),
            f.kind,
            str(f.records),
            str(f.accepted),
            str(f.duplicates),
            str(f.conflicts),
            str(f.rejected),
            *[str(f.notes)] * noted,
        )
    return table


def _print_load_lines(
    result: LoadResult, console: Console, base: Path | None, notes_shown: int | None
) -> None:
    """What follows the summary: notes, skipped paths, files already loaded, conflicts."""
    _print_notes(result, console, base, notes_shown)
    for skipped in result.skipped:
        console.print(f"skipped: {inert(str(skipped))}", markup=False, soft_wrap=True)
    for f in result.files:
        if f.status == "already-loaded":
            console.print(
                f"{shown_path(f.path, base)}: already loaded (same SHA-256), skipped",
                markup=False,
            )
        if f.extra_columns:
            extra = inert(", ".join(f.extra_columns))
            console.print(f"{inert(f.path)}: extra columns kept: {extra}", markup=False)
        if f.conflicts:
            console.print(
                f"{inert(f.path)}: {f.conflicts} record(s) share a key with a stored record but "
                "differ; both are kept and the reconciliation reports them",
                markup=False,
            )


def _print_notes(
    result: LoadResult, console: Console, base: Path | None, notes_shown: int | None
) -> None:
    """The first notes of each file (documents skipped, schema deviations, ...)."""
    for f in result.files:
        notes = [n for n in result.notes if n.source == f.path][:notes_shown]
        for n in notes:
            where = shown_path(f.path, base)
            where = f"{where}: {n.location}" if n.location else where
            console.print(
                f"{where}: {n.level}: {n.message}", markup=False, highlight=False, soft_wrap=True
            )
        if f.notes > len(notes):
            console.print(
                f"{shown_path(f.path, base)}: ... and {f.notes - len(notes)} more "
                "(all are in the load_notes table)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
