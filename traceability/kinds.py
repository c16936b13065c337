"""The input kinds, read from the JSON Schemas in ``schemas/``.

The schemas are the single source of truth for field names, logical types, enums and
required fields: the loader's column types, vectorised checks and normalisations are derived
from what this module reads out of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

TABULAR_KINDS = ("products", "batches", "consignments", "authorisations", "filings", "estimates")
EVENT_KIND = "events"
ALL_KINDS = (*TABULAR_KINDS, EVENT_KIND)

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


@dataclass(frozen=True)
class Column:
    """One column of a tabular kind, as its schema describes it."""

    name: str
    logical: str  # a $defs name of common.schema.json, or "enum" for an inline enum
    required: bool
    enum: tuple[str, ...] | None
    default: str | None
    description: str

    @property
    def sql_type(self) -> str:
        """The DuckDB type the column is stored as."""
        return {"decimal": "DECIMAL(38,12)", "date": "DATE", "year": "INTEGER"}.get(
            self.logical, "VARCHAR"
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

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in schema order."""
        return tuple(c.name for c in self.columns)

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
        else:
            logical, enum = "enum", prop["enum"]
        default = prop.get("default")
        columns.append(
            Column(
                name=name,
                logical=logical,
                required=name in required,
                enum=tuple(enum) if enum else None,
                default=str(default) if default is not None else None,
                description=prop.get("description", ""),
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
