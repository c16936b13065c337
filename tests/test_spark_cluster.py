"""Spark beyond one process: settings from the command line, failures as one line, and a
real standalone cluster.

- ``--conf`` and ``--packages`` reach Spark: read back from Spark's own event log (the
  package is a jar built here, in a Maven layout under the test's folder, resolved with no
  other repository).
- What Spark or the storage raises reaches the terminal as one line and exit 2: no Python
  traceback, no Java stack trace. Run as a real ``tracecheck`` process, where the JVM's
  output and a traceback would show.
- On a standalone master and worker started here, a load and a reconcile store the rows
  and give the report that DuckDB does (the differential test of ``test_spark_load.py``).

Skips, saying why, where pyspark, Java (or, for the package, ``javac`` and ``jar``) are
missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from spark_cluster import Cluster, spark_cluster, spark_home
from test_spark_load import RULES as LOAD_RULES
from test_spark_load import differences, make_quarter

import traceability
from traceability.cli import cli
from traceability.export import export
from traceability.load import load
from traceability.render import render

# Spark starts a JVM per module and its runs take tens of seconds: start them first.
pytestmark = pytest.mark.slow

__all__ = ["spark_cluster"]  # the fixture, for pytest

ROOT = Path(__file__).resolve().parents[1]
#: A run that fails should do so well within this (seconds).
RUN_TIMEOUT = 300
PROBE = "tc.probe:probe:1.0"
#: Ivy with no resolver of its own: only the repositories given with --repositories.
IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="given-only"/>
  <resolvers><chain name="given-only"/></resolvers>
</ivysettings>
"""


def tracecheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tracecheck ARGS`` in a process of its own."""
    spark_home()  # skips without pyspark or Java
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    environ.pop("TRACECHECK_SPARK_LOG", None)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "traceability", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error a run ended with: exit 2, one line on stderr, nothing else anywhere."""
    shown = done.stdout + done.stderr
    assert done.returncode == 2, shown
    assert "Traceback" not in shown and "at org.apache" not in shown, shown
    assert done.stdout == "", shown
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    return lines[0]


def ivy(tmp_path: Path) -> list[str]:
    """Settings for Ivy to resolve only from the repositories given, caching under tmp."""
    settings = tmp_path / "ivysettings.xml"
    settings.write_text(IVY_SETTINGS, "utf-8")
    return [
        *("--conf", f"spark.jars.ivy={tmp_path / 'ivy'}"),
        *("--conf", f"spark.jars.ivySettings={settings}"),
    ]


def maven_repository(folder: Path) -> Path:
    """A Maven repository holding PROBE: one class, compiled and packed here."""
    if shutil.which("javac") is None or shutil.which("jar") is None:
        pytest.skip("no javac or jar on PATH to build the package with")
    group, artifact, version = PROBE.split(":")
    source = folder / "src" / "Probe.java"
    source.parent.mkdir(parents=True)
    source.write_text("package tc.probe;\npublic class Probe {}\n", "utf-8")
    subprocess.run(["javac", "-d", str(folder / "classes"), str(source)], check=True, timeout=120)
    place = folder / "repo" / group.replace(".", "/") / artifact / version
    place.mkdir(parents=True)
    name = f"{artifact}-{version}"
    jar = ["jar", "cf", str(place / f"{name}.jar"), "-C", str(folder / "classes"), "."]
    subprocess.run(jar, check=True, timeout=120)
    (place / f"{name}.pom").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></project>\n",
        "utf-8",
    )
    return folder / "repo"


def environment_update(events: Path) -> dict[str, dict[str, str]]:
    """The SparkListenerEnvironmentUpdate of the one application logged in ``events``."""
    (log,) = [p for p in events.iterdir() if not p.name.startswith(".")]
    for line in log.read_text("utf-8").splitlines():
        event = json.loads(line)
        if event["Event"] == "SparkListenerEnvironmentUpdate":
            return dict(event)
    raise AssertionError(f"no environment in {log}")


# --- settings reach Spark -------------------------------------------------------------------


def test_conf_and_packages_reach_spark(tmp_path: Path) -> None:
    """Read back from the event log Spark writes as it starts: the --conf setting among the
    Spark properties, the package resolved from the local repository and on the class path.
    The run then stops at a folder that is not an export, which keeps it short."""
    repo = maven_repository(tmp_path / "maven")
    events = tmp_path / "events"
    events.mkdir()
    done = tracecheck(
        *("reconcile", "--engine", "spark", "--master", "local[1]"),
        *("--data", str(tmp_path / "not-an-export")),
        *("--packages", PROBE, "--repositories", repo.as_uri()),
        *ivy(tmp_path),
        *("--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={events}"),
        *("--conf", "spark.eventLog.compress=false"),
        *("--conf", "spark.eventLog.rolling.enabled=false"),
        *("--conf", "spark.sql.shuffle.partitions=3"),
    )
    assert "not a tracecheck export" in one_line_error(done)
    environment = environment_update(events)
    properties = environment["Spark Properties"]
    assert properties["spark.sql.shuffle.partitions"] == "3"
    assert properties["spark.jars.packages"] == PROBE
    added = [path for path in environment["Classpath Entries"] if "tc.probe_probe-1.0.jar" in path]
    assert added and all(
        environment["Classpath Entries"][path] == "Added By User" for path in added
    )
    assert (tmp_path / "ivy" / "jars" / "tc.probe_probe-1.0.jar").is_file()


# --- failures: one line, exit 2 ------------------------------------------------------------


def test_a_path_without_its_connector_says_which_package_adds_it() -> None:
    line = one_line_error(
        tracecheck(
            "reconcile", "--engine", "spark", "--master", "local[1]", "--data", "s3a://bucket/q1"
        )
    )
    assert "S3A connector" in line and "not on Spark's class path" in line
    assert "--packages org.apache.hadoop:hadoop-aws:" in line
    version = line.split("hadoop-aws:", 1)[1].split(";", 1)[0]
    assert version[0].isdigit(), line  # read from the running JVM


def test_a_package_that_cannot_be_resolved(tmp_path: Path) -> None:
    empty = tmp_path / "repo"
    empty.mkdir()
    missing = "tc.probe:absent:1.0"
    log = tmp_path / "spark.log"
    done = tracecheck(
        *("reconcile", "--engine", "spark", "--data", str(tmp_path)),
        *("--packages", missing, "--repositories", empty.as_uri()),
        *ivy(tmp_path),
        env={"TRACECHECK_SPARK_LOG": str(log)},
    )
    assert f"could not resolve --packages {missing}" in one_line_error(done)
    # what Spark said in full is in the log the environment names
    assert "unresolved dependency: tc.probe#absent;1.0" in log.read_text("utf-8")


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--master", "nonsense://x"], {}, "Spark did not start on nonsense://x: Master must"),
        ([], {"JAVA_HOME": "{tmp}"}, "Spark needs Java 17 or newer: JAVA_HOME="),
        (["--conf", "spark.driver.memory=lots"], {}, "Invalid maximum heap size: -Xmxlots"),
    ],
    ids=["bad-master-url", "no-java", "bad-jvm-setting"],
)
def test_spark_that_does_not_start(
    args: list[str], env: dict[str, str], said: str, tmp_path: Path
) -> None:
    env = {key: value.format(tmp=tmp_path) for key, value in env.items()}
    done = tracecheck("reconcile", "--engine", "spark", "--data", str(tmp_path), *args, env=env)
    assert said in one_line_error(done)


def test_a_bad_setting_that_spark_reads_as_it_starts(tmp_path: Path) -> None:
    """In this process (the JVM of any earlier test is reused): Spark's error class."""
    spark_home()  # skips without pyspark or Java
    args = ["reconcile", "--engine", "spark", "--master", "local[1]", "--data", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--conf", "spark.sql.shuffle.partitions=many"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: Spark did not start on local[1]: ")
    assert "[INVALID_CONF_VALUE.TYPE_MISMATCH] The value 'many'" in result.output
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    "key",
    [
        "spark.hadoop.fs.s3a.secret.key",
        "fs.s3a.access.key",
        "spark.hadoop.fs.s3a.session.token",
        "fs.azure.account.key.acct.dfs.core.windows.net",
        "spark.ssl.keyStorePassword",
        "fs.azure.account.oauth2.refresh.token",
    ],
)
def test_a_credential_on_the_command_line_is_refused(key: str, tmp_path: Path) -> None:
    args = ["reconcile", "--engine", "spark", "--data", str(tmp_path), "--conf", f"{key}=hunter2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: --conf {key}: a credential is refused")
    assert "AWS_SECRET_ACCESS_KEY" in result.output and "core-site.xml" in result.output
    assert "hunter2" not in result.output and len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--engine", "spark", "--conf", "spark.executor.memory"], "give KEY=VALUE"),
        (["--engine", "spark", "--conf", "=8g"], "the key is empty"),
        (["--engine", "spark", "--packages", "org.apache.hadoop:hadoop-aws"], "not a Maven"),
        (["--db", "q1.duckdb", "--conf", "a=b", "--master", "local"], "--master, --conf go"),
        (["--db", "q1.duckdb", "--packages", "a:b:1"], "--packages goes with --engine spark"),
    ],
)
def test_spark_options_are_checked(args: list[str], said: str, tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)] if "spark" in args else []
    result = CliRunner().invoke(cli, ["reconcile", *args, *data])
    assert result.exit_code == 2 and said in result.output, result.output
    assert len(result.output.splitlines()) == 1


# --- a real standalone cluster ---------------------------------------------------------


def test_a_standalone_cluster_loads_and_reconciles_as_duckdb_does(
    spark_cluster: Cluster, tmp_path: Path
) -> None:
    """The differential test of the load, on a master and a worker: every stored row, the
    rejects and the report equal DuckDB's, loaded and reconciled on the cluster."""
    quarter = make_quarter(tmp_path / "quarter")
    db = tmp_path / "q.duckdb"
    load(db, [quarter])
    exported = export(db, tmp_path / "export").folder
    store = tmp_path / "store"
    on = ["--engine", "spark", "--master", spark_cluster.master, "--data", str(store)]
    for key, value in {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.pyspark.python": sys.executable,
        "spark.executorEnv.PYTHONPATH": str(ROOT),  # the tasks run this checkout's loader
        "spark.sql.shuffle.partitions": "2",
        "spark.executor.memory": "768m",
    }.items():
        on += ["--conf", f"{key}={value}"]
    loaded = CliRunner().invoke(cli, ["load", *on, str(quarter)])
    assert loaded.exit_code == 0, loaded.output
    assert differences(exported, store) == dict.fromkeys(differences(exported, exported), (0, 0))
    rules = [f"--rule={rule}" for rule in LOAD_RULES]
    result = CliRunner().invoke(cli, ["reconcile", *on, *rules, "--format", "json"])
    assert result.exit_code == 0, result.output
    on_cluster = json.loads(result.output)
    duck = json.loads(render(traceability.reconcile(db, rules=list(LOAD_RULES)), "json"))
    assert duck["summary"]["rejected_records"] >= 3
    for report in (on_cluster, duck):
        report.pop("generated_at")
    assert json.dumps(on_cluster, sort_keys=True) == json.dumps(duck, sort_keys=True)
    # both ran on the cluster: the master lists them as applications it ran
    state = spark_cluster.state()
    apps = state.get("completedapps", []) + state.get("activeapps", [])
    assert sum(a.get("name") == "tracecheck" for a in apps) >= 2, state


def test_a_python_worker_failure_is_named_by_what_it_raised() -> None:
    from traceability.spark.session import first_line

    said = (
        "[PYTHON_EXCEPTION] An exception was thrown from the Python worker: Traceback (most "
        'recent call last):\n  File "worker.py", line 4197, in invoke_udf\n    func = read()\n'
        "ModuleNotFoundError: No module named 'duckdb'\n SQLSTATE: 38000\n"
        "\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(x.scala:1)\n"
    )
    assert first_line(RuntimeError(said)) == (
        "a Python worker failed: ModuleNotFoundError: No module named 'duckdb'"
    )
