"""The input kinds, read from the JSON Schemas in ``schemas/``.

The schemas are the single source of truth for field names, logical types, enums and
required fields: the loader's column types, vectorised checks and normalisations are derived
from what this module reads out of them. A tabular kind is a schema whose ``x-tracecheck``
block names it; that block also gives its record key, file formats, place in listings
(``order``), table (``table``, default the kind) and the other spellings of its files
(``dialects``: other column names, fixed values, value maps and rewrites). A column that
is not one of the shared value types (a ``$ref`` into ``common.schema.json``) is an inline
``enum`` or an inline ``pattern``, optionally with ``x-normalise`` (rewrites applied after
the check) and ``x-code`` (the rejection code when the pattern does not match).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

EVENT_KIND = "events"

_COMMON_PREFIX = "common.schema.json#/$defs/"


def schema_dir() -> Path:
    """Where the JSON Schemas are: in the installed package, or the source tree's ``schemas/``."""
    packaged = resources.files("traceability") / "schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "schemas"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Read one schema file by its stem (``batches`` reads ``batches.schema.json``)."""
    with (schema_dir() / f"{name}.schema.json").open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _tabular_kinds() -> tuple[str, ...]:
    """The kinds of the schemas that declare one (events aside), in their ``order``."""
    found = []
    for path in schema_dir().glob("*.schema.json"):
        meta = load_schema(path.name.removesuffix(".schema.json")).get("x-tracecheck")
        if meta and meta["kind"] != EVENT_KIND:
            found.append((meta["order"], meta["kind"]))
    return tuple(kind for _, kind in sorted(found))


#: A rewrite of a value: ``(pattern, replacement)`` for ``regexp_replace``, or ``upper``.
Rewrite = tuple[str, str] | str


def _rewrites(raw: list[Any]) -> tuple[Rewrite, ...]:
    return tuple(step if isinstance(step, str) else (step[0], step[1]) for step in raw)


@dataclass(frozen=True)
class Column:
    """One column of a tabular kind, as its schema describes it."""

    name: str
    logical: str  # a $defs name of common.schema.json, or "enum" for an inline enum
    required: bool
    enum: tuple[str, ...] | None
    default: str | None
    description: str
    pattern: str | None = None  # an inline pattern (logical "pattern")
    code: str = "not-allowed"  # the rejection code of an inline pattern
    normalise: tuple[Rewrite, ...] = ()  # rewrites of a valid value, in order

    @property
    def sql_type(self) -> str:
        """The DuckDB type the column is stored as."""
        return {"decimal": "DECIMAL(38,12)", "date": "DATE", "year": "INTEGER"}.get(
            self.logical, "VARCHAR"
        )


@dataclass(frozen=True)
class Dialect:
    """Another spelling of a kind's files (a statistics office's download, say).

    ``columns`` gives, per column, the file's column names to read it from (the first with
    a value wins); ``constants`` the columns such files never hold, with their value;
    ``values`` maps the file's values of a column to the contract's (values not listed
    are kept as written, and checked); ``rewrite`` rewrites values of a column before
    they are checked. A file is read in a dialect when it lacks a column of the kind's
    own required ones and has one of the names of each of the dialect's columns.
    """

    name: str
    columns: dict[str, tuple[str, ...]]
    constants: dict[str, str]
    values: dict[str, dict[str, str]]
    rewrite: dict[str, tuple[Rewrite, ...]]


def _dialect(name: str, raw: dict[str, Any], maps: dict[str, dict[str, str]]) -> Dialect:
    return Dialect(
        name=name,
        columns={k: tuple(v) for k, v in raw.get("columns", {}).items()},
        constants={k: str(v) for k, v in raw.get("constants", {}).items()},
        values={
            k: maps[v] if isinstance(v, str) else dict(v) for k, v in raw.get("values", {}).items()
        },
        rewrite={k: _rewrites(v) for k, v in raw.get("rewrite", {}).items()},
    )


@dataclass(frozen=True)
class KindSpec:
    """A tabular input kind: its columns, record key and allowed file formats."""

    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    formats: tuple[str, ...]
    one_of_required: tuple[tuple[str, ...], ...]  # at least one column of each group
    required_when: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    # (column, values, then-required): when column is one of values, these are required
    depends: tuple[tuple[str, tuple[str, ...]], ...]  # when column present, these are required
    table: str = ""  # the store's table of the kind's records
    dialects: tuple[Dialect, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in schema order."""
        return tuple(c.name for c in self.columns)

    def required_names(self) -> set[str]:
        """The columns a file must have (one of each ``one_of_required`` group aside)."""
        return {c.name for c in self.columns if c.required}

    def dialect_of(self, header: Iterable[str]) -> Dialect | None:
        """The dialect a file with these column names is read in (None: the kind's own).

        A file with every required column of its own is read as the contract writes it.
        """
        have = {h.strip().lower() for h in header}
        if self.required_names() <= have:
            return None
        for dialect in self.dialects:
            names = dialect.columns.values()
            if all({n.lower() for n in alternatives} & have for alternatives in names):
                return dialect
        return None

    def covers(self, header: Iterable[str]) -> bool:
        """Whether a file with these column names holds this kind's required columns."""
        have = {h.strip().lower() for h in header}
        dialect = self.dialect_of(have)
        if dialect is not None:
            have |= set(dialect.columns) | set(dialect.constants)
        return self.required_names() <= have and all(set(g) & have for g in self.one_of_required)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _groups(node: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[Any]]:
    one_of: list[tuple[str, ...]] = []
    when: list[Any] = []
    parts = [node, *node.get("allOf", [])]
    for part in parts:
        if "anyOf" in part:
            one_of.append(tuple(r for alt in part["anyOf"] for r in alt["required"]))
        if "if" in part:
            (col, cond), *_ = part["if"]["properties"].items()
            when.append((col, tuple(cond["enum"]), tuple(part["then"]["required"])))
    return one_of, when


@cache
def kind_spec(kind: str) -> KindSpec:
    """The spec of a tabular kind, derived from its schema."""
    schema = load_schema(kind)
    common = load_schema("common")["$defs"]
    required = set(schema["required"])
    columns = []
    for name, prop in schema["properties"].items():
        if "$ref" in prop:
            logical = prop["$ref"].removeprefix(_COMMON_PREFIX)
            enum = common[logical].get("enum")
        elif "enum" in prop:
            logical, enum = "enum", prop["enum"]
        else:
            logical, enum = "pattern", None
        default = prop.get("default")
        columns.append(
            Column(
                name=name,
                logical=logical,
                required=name in required,
                enum=tuple(enum) if enum else None,
                default=str(default) if default is not None else None,
                description=prop.get("description", ""),
                pattern=prop.get("pattern") if logical == "pattern" else None,
                code=prop.get("x-code", "not-allowed"),
                normalise=_rewrites(prop.get("x-normalise", [])),
            )
        )
    one_of, when = _groups(schema)
    meta = schema["x-tracecheck"]
    return KindSpec(
        kind=kind,
        columns=tuple(columns),
        key=tuple(meta["key"]),
        formats=tuple(meta["formats"]),
        one_of_required=tuple(one_of),
        required_when=tuple(when),
        depends=tuple((k, tuple(v)) for k, v in schema.get("dependentRequired", {}).items()),
        table=meta.get("table", kind),
        dialects=tuple(
            _dialect(name, raw, meta.get("maps", {}))
            for name, raw in meta.get("dialects", {}).items()
        ),
    )


@cache
def validator(name: str) -> Draft202012Validator:
    """A jsonschema validator for one schema, with format checking on and refs resolved."""
    registry: Registry[Any] = Registry()
    for path in sorted(schema_dir().glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        registry = registry.with_resource(path.name, Resource.from_contents(contents))
        registry = registry.with_resource(contents["$id"], Resource.from_contents(contents))
    schema = load_schema(name)
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


#: The tabular kinds, in the order listings show them.
TABULAR_KINDS = _tabular_kinds()
ALL_KINDS = (*TABULAR_KINDS, EVENT_KIND)
