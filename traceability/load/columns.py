"""How a file's columns give a kind's columns.

A file names its columns as the input contract does, or as a dialect of the kind does (a
statistics office's download, say: see :class:`traceability.kinds.Dialect`). The header is
mapped once per file; each column is then read by SQL that trims it, takes the first of
its source columns with a value, turns the dialect's spellings into the contract's, and
falls back on the dialect's constant or the column's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from traceability.errors import UnreadableFile
from traceability.kinds import Column, Dialect, KindSpec, Rewrite
from traceability.load.limits import shown
from traceability.sql import literal as lit


def map_header(
    path: Path, spec: KindSpec, header: list[str]
) -> tuple[dict[str, list[str]], list[str], Dialect | None]:
    """Map file columns to schema columns (case-insensitively).

    Returns (mapping, extras, dialect): the file's columns each schema column is read from
    (the first with a value wins), the file's other columns, and the dialect the file is
    written in (None: the contract's own names).
    """
    seen: set[str] = set()
    by_name: dict[str, str] = {}
    for h in header:
        key = h.strip().lower()
        if "\x00" in h:
            raise UnreadableFile(f"{path}: the column name {shown(h)} holds a NUL character")
        if key in seen and key:
            raise UnreadableFile(f"{path}: column {shown(h)} appears twice in the header")
        seen.add(key)
        by_name.setdefault(key, h)
    dialect = spec.dialect_of(header)
    mapping: dict[str, list[str]] = {}
    for name in spec.names:
        names = dialect.columns.get(name, (name,)) if dialect else (name,)
        found = [by_name[n.lower()] for n in names if n.lower() in by_name]
        if found:
            mapping[name] = found
    used = {h for hs in mapping.values() for h in hs}
    extras = [h for h in header if h.strip() and h not in used]
    present = set(mapping) | (set(dialect.constants) if dialect else set())
    missing = [c.name for c in spec.columns if c.required and c.name not in present]
    missing += [" or ".join(group) for group in spec.one_of_required if not set(group) & present]
    if missing:
        raise UnreadableFile(
            f"{path}: not a {spec.kind} file: missing column(s) {', '.join(missing)}",
            hint="see the input contract for the column names",
        )
    return mapping, extras, dialect


def rewritten(value: str, steps: Sequence[Rewrite]) -> str:
    """``value`` (SQL) after the rewrites ``steps``."""
    for step in steps:
        if isinstance(step, str):
            value = f"{step}({value})"
        else:
            value = f"regexp_replace({value}, {lit(step[0])}, {lit(step[1])})"
    return value


def read_sql(c: Column, sources: Sequence[str], at: dict[str, str], dialect: Dialect | None) -> str:
    """SQL reading column ``c`` from the file's columns ``sources``: trimmed, NULL when
    blank, in the dialect's spelling turned into the contract's, else its default."""
    parts = [f"NULLIF(trim({at[h]}), '')" for h in sources]
    if not parts:
        constant = dialect.constants.get(c.name) if dialect else None
        value = constant if constant is not None else c.default
        return lit(value) if value is not None else "NULL::VARCHAR"
    expr = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    if dialect is not None and c.name in dialect.values:
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in dialect.values[c.name].items())
        expr = f"(CASE {expr} {whens} ELSE {expr} END)"
    if dialect is not None and c.name in dialect.rewrite:
        expr = rewritten(expr, dialect.rewrite[c.name])
    if c.default is not None:
        expr = f"coalesce({expr}, {lit(c.default)})"
    return expr


def written_sql(sources: Sequence[str], at: dict[str, str]) -> str:
    """SQL giving a column's value as the file wrote it (the first of ``sources`` with one)."""
    if not sources:
        return "NULL::VARCHAR"
    if len(sources) == 1:
        return at[sources[0]]
    return "coalesce(" + ", ".join(f"NULLIF(trim({at[h]}), '')" for h in sources) + ")"
