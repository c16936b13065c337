"""A load is one transaction: a killed load leaves nothing, a second writer is told clearly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID, counts, write_csv

from traceability.cli import cli
from traceability.load import load

EVENT = (
    '{{"type":"ObjectEvent","eventID":"urn:uuid:k-{i}","eventTime":"2026-01-12T10:15:00+05:30",'
    '"eventTimeZoneOffset":"+05:30","action":"ADD","bizStep":"commissioning","epcList":[{epcs}],'
    '"ilmd":{{"cbvmda:lotNumber":"L1"}}}}\n'
)


def _big_events(path: Path, events: int) -> None:
    with path.open("w") as f:
        for i in range(events):
            epcs = ",".join(f'"urn:epc:id:sgtin:8901234.000001.{i * 25 + s}"' for s in range(25))
            f.write(EVENT.format(i=i, epcs=epcs))


@pytest.mark.slow
def test_a_load_killed_mid_way_leaves_the_database_as_it_was(tmp_path: Path, db: Path) -> None:
    load(db, [write_csv(tmp_path / "products.csv", [VALID["products"]])])
    before = counts(db)
    big = tmp_path / "big.jsonl"
    _big_events(big, 300_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "traceability", "load", "--db", str(db), str(big)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.5)
    assert proc.poll() is None, "the load finished before it could be killed: make it bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert counts(db) == before
    # And the database is usable: the same file loads in full afterwards.
    small = tmp_path / "small.jsonl"
    _big_events(small, 10)
    load(db, [small])
    assert counts(db)["events"] == 10


def test_a_second_writer_gets_a_clear_in_use_message(tmp_path: Path, db: Path) -> None:
    load(db, [write_csv(tmp_path / "products.csv", [VALID["products"]])])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from traceability.store import connect; "
            "c = connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        path = write_csv(tmp_path / "batches.csv", [VALID["batches"]])
        out = CliRunner().invoke(cli, ["load", "--db", str(db), str(path)])
        assert out.exit_code == 2
        assert "Traceback" not in out.output
        assert "in use by another process" in out.output
    finally:
        holder.kill()
        holder.wait()
    assert counts(db)["batches"] == 0
