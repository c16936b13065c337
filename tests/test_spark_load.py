"""``load --engine spark``: the same generated quarter loaded by DuckDB and by Spark.

One Spark session (``local[2]``) serves the module, and one load on Spark of a small
quarter is shared by the tests: the quarter of :func:`generate_quarter`, with a second
events file (events of the first again, one under its ID with other content, one in
another spelling of its business step, a malformed line and an event that is rejected),
a second consignments file (lines again, one under its key with another quantity, one
rejected) and an EPCIS XML document. The DuckDB load, exported, and the load on Spark
must hold the same rows, table by table, and give the same report.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import traceability
from traceability.cli import cli
from traceability.export import MANIFEST, export
from traceability.load import load
from traceability.model import Report
from traceability.render import render
from traceability.sample import generate_quarter

# Spark starts a JVM per module and its runs take tens of seconds: start them first.
pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "seeds"

#: the rules the report comparison runs (each rule costs Spark jobs): one that reads
#: events, one that reads declarations; the report's summary counts every reject
RULES = ["serial-duplicate", "unknown-lot"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH: Spark needs Java 17 or newer")
    from traceability.spark import spark_session

    # the tasks run this interpreter, and import tracecheck from where the tests do
    here = str(Path(__file__).resolve().parents[1])
    # (no setting the JVM reads as it starts: under xdist, another module's session may
    # have started this process's JVM already; Spark's default driver memory is 1g)
    conf = {
        "spark.executorEnv.PYTHONPATH": here,
        "spark.sql.shuffle.partitions": "2",  # tiny data: a shuffle task per core
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)
        with spark_session("local[2]", conf) as session:
            yield session


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _second_events(first: Path, to: Path) -> None:
    events = _lines(first)
    conflict = dict(events[3], disposition="https://ref.gs1.org/cbv/Disp-damaged")
    spelled = next(e for e in events[4:] if str(e.get("bizStep", "")).startswith("cbv:BizStep-"))
    step = spelled["bizStep"].removeprefix("cbv:BizStep-")
    respelled = dict(spelled, bizStep=f"urn:epcglobal:cbv:bizstep:{step}")
    rejected = {k: v for k, v in events[5].items() if k != "eventTime"}
    rejected["eventID"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    text = [json.dumps(e, separators=(",", ":")) for e in events[:3]]
    text += [json.dumps(conflict), json.dumps(respelled), '{"type":"ObjectEvent",']
    text += [json.dumps(rejected)]
    to.write_text("\n".join(text) + "\n", "utf-8")


def _second_consignments(first: Path, to: Path) -> None:
    header, *rows = first.read_text("utf-8").splitlines()
    changed = rows[2].split(",")
    changed[10] = str(int(changed[10]) + 5)
    bad = rows[3].split(",")
    bad[10] = "ten"
    to.write_text("\n".join([header, rows[0], rows[1], ",".join(changed), ",".join(bad)]) + "\n")


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_quarter(tmp_path_factory.mktemp("quarter"))


def make_quarter(root: Path) -> Path:
    """The generated quarter with the second files and the XML document; its folder."""
    sample = generate_quarter(root / "data", seed=1, packs_per_lot=120, lots_per_product=1)
    more = sample.folder / "more"
    more.mkdir()
    _second_events(sample.folder / "events.jsonl", more / "events-again.jsonl")
    _second_consignments(sample.folder / "consignments.csv", more / "consignments-late.csv")
    # an EPCIS XML document: it goes through the same loader in a task
    # its name holds the characters of a glob pattern: Spark reads it as written, not as one
    shutil.copy(SEEDS / "document-2.0.xml", more / "shipping [Q1] {v2}.xml")
    return sample.folder


@pytest.fixture(scope="module")
def duck_export(quarter: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("duck")
    load(root / "q.duckdb", [quarter])
    return root / "q.duckdb", export(root / "q.duckdb", root / "export").folder


@pytest.fixture(scope="module")
def spark_store(
    spark: Any, quarter: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("spark") / "store"
    result = CliRunner().invoke(
        cli, ["load", "--engine", "spark", "--data", str(store), str(quarter)]
    )
    assert result.exit_code == 0, result.output
    return store, result.output


def _read(root: Path, table: str) -> str:
    files = str(root / table / "**" / "*.parquet")
    return f"read_parquet('{files}', hive_partitioning = true)"


def _table(con: duckdb.DuckDBPyConnection, root: Path, table: str) -> str:
    """A table's rows as compared: all but the time of loading, and a prefix by its text
    (the DuckDB loader's own prefix ids follow the order its threads meet the prefixes)."""
    if table == "loads":
        return f"SELECT * EXCLUDE (loaded_at) FROM {_read(root, table)}"
    if table == "epc_prefixes":
        return f"SELECT prefix, gtin FROM {_read(root, table)}"
    if table == "epc_rows":
        prefixes = _read(root, "epc_prefixes")
        return (
            f"SELECT r.* EXCLUDE (prefix_id), p.prefix FROM {_read(root, table)} r "
            f"LEFT JOIN {prefixes} p USING (prefix_id)"
        )
    return f"SELECT * FROM {_read(root, table)}"


def differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per table, the rows of ``a`` not in ``b`` and of ``b`` not in ``a`` (EXCEPT ALL)."""
    tables = json.loads((a / MANIFEST).read_text("utf-8"))["tables"]
    assert tables.keys() == json.loads((b / MANIFEST).read_text("utf-8"))["tables"].keys()
    con = duckdb.connect()
    out = {}
    for table in tables:
        x, y = _table(con, a, table), _table(con, b, table)
        ab = con.execute(f"SELECT count(*) FROM (({x}) EXCEPT ALL ({y}))").fetchone()
        ba = con.execute(f"SELECT count(*) FROM (({y}) EXCEPT ALL ({x}))").fetchone()
        out[table] = (ab[0] if ab else -1, ba[0] if ba else -1)
    return out


def test_spark_stores_every_row_duckdb_stores(
    spark_store: tuple[Path, str], duck_export: tuple[Path, Path]
) -> None:
    store, _output = spark_store
    _db, exported = duck_export
    assert (
        json.loads((store / MANIFEST).read_text("utf-8"))["tables"]
        == json.loads((exported / MANIFEST).read_text("utf-8"))["tables"]
    )
    assert differences(exported, store) == dict.fromkeys(differences(exported, exported), (0, 0))
    # what the second files were made to provoke did happen, in both
    con = duckdb.connect()
    notes = con.execute(f"SELECT code FROM ({_table(con, store, 'load_notes')})").fetchall()
    assert {("conflict",), ("same-event-other-form",)} <= set(notes)
    codes = {
        r[0] for r in con.execute(f"SELECT code FROM ({_table(con, store, 'rejects')})").fetchall()
    }
    assert "bad-json" in codes and len(codes) >= 3
    loads = con.execute(
        f"SELECT path, duplicates, conflicts FROM ({_table(con, store, 'loads')}) ORDER BY load_id"
    ).fetchall()
    again = {Path(p).name: (d, c) for p, d, c in loads}
    assert again["events-again.jsonl"] == (3, 1)
    assert again["consignments-late.csv"] == (2, 1)


def _report(report: Report) -> dict[str, Any]:
    data = json.loads(render(report, "json"))
    data.pop("generated_at")
    return dict(data)


def test_spark_store_gives_the_report_of_the_duckdb_store(
    spark_store: tuple[Path, str], duck_export: tuple[Path, Path]
) -> None:
    from traceability.spark import reconcile_spark

    store, _output = spark_store
    db, _exported = duck_export
    duck = _report(traceability.reconcile(db, rules=RULES))
    assert duck["summary"]["rejected_records"] >= 3
    on_spark = _report(reconcile_spark(store, rules=RULES))
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(duck, sort_keys=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_loading_the_same_files_again_changes_nothing(
    spark_store: tuple[Path, str], quarter: Path
) -> None:
    store, _output = spark_store
    before = _files(store)
    args = ["load", "--engine", "spark", "--data", str(store), "--verbose", str(quarter)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "already loaded" in result.output
    assert _files(store) == before


def _new_products(quarter: Path, folder: Path) -> Path:
    """A products file of other content under the same keys, in a folder of its own."""
    folder.mkdir()
    text = (quarter / "products.csv").read_text("utf-8")
    (folder / "products.csv").write_text(text.replace("tablets", "tabs"), "utf-8")
    return folder


def test_a_load_into_a_store_adds_what_a_duckdb_load_adds(
    spark_store: tuple[Path, str], duck_export: tuple[Path, Path], quarter: Path, tmp_path: Path
) -> None:
    new = _new_products(quarter, tmp_path / "new")
    db = tmp_path / "q.duckdb"
    shutil.copy(duck_export[0], db)
    load(db, [new])
    exported = export(db, tmp_path / "export").folder
    store = tmp_path / "store"
    shutil.copytree(spark_store[0], store)
    args = ["load", "--engine", "spark", "--data", str(store), str(new)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert differences(exported, store) == dict.fromkeys(differences(store, store), (0, 0))
    con = duckdb.connect()
    loads = _table(con, store, "loads")
    row = con.execute(
        f"SELECT duplicates, conflicts FROM ({loads}) ORDER BY load_id DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    assert row[0] > 0 and row[1] > 0  # records stored before, and keys with other content


def test_a_load_that_fails_midway_leaves_the_store_as_it_was(
    spark_store: tuple[Path, str], quarter: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(spark_store[0], store)
    # a table that Spark cannot read, and reads only as it writes it, after most others:
    # the load fails with the new store half written beside the target
    for broken in (store / "tracecheck_meta").glob("*.parquet"):
        broken.write_bytes(b"not parquet")
    before = _files(store)
    new = _new_products(quarter, tmp_path / "new")
    result = CliRunner().invoke(cli, ["load", "--engine", "spark", "--data", str(store), str(new)])
    assert result.exit_code == 2
    assert "the store is as it was" in result.output and "Traceback" not in result.output
    assert "tracecheck_meta" in result.output  # it failed writing that table, not before
    assert len(result.output.strip().splitlines()) <= 3, result.output
    assert _files(store) == before
    assert {p.name for p in tmp_path.iterdir()} == {"store", "new"}  # no folder left beside


def test_a_strict_load_with_a_rejected_record_writes_nothing(
    spark: Any, quarter: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    args = ["load", "--engine", "spark", "--strict", "--data", str(store), str(quarter)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert "nothing was loaded" in result.output
    assert "events-again.jsonl:6" in result.output  # the malformed line, named
    assert not store.exists() and [p.name for p in tmp_path.iterdir()] == []


def test_a_store_that_cannot_be_written_is_refused_in_one_line(
    spark: Any, quarter: Path, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    target = tmp_path / "file" / "store"
    args = ["load", "--engine", "spark", "--data", str(target), str(quarter / "products.csv")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "file" in result.output
    assert (tmp_path / "file").read_text() == "a file, not a folder"


def test_without_the_spark_extra_the_load_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # an installation without the extra: sqlglot cannot be imported
    monkeypatch.setitem(sys.modules, "sqlglot", None)
    for name in [m for m in sys.modules if m.split(".")[:2] == ["traceability", "spark"]]:
        monkeypatch.delitem(sys.modules, name)
    args = ["load", "--engine", "spark", "--data", str(tmp_path / "store"), str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "tracecheck[spark]" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "store").exists()
