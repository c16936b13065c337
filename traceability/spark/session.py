"""Starting Spark for tracecheck, and Spark's failures as one line.

:func:`spark_session` starts (or reuses) the session the Spark engine runs on. When it
starts Spark's JVM itself, the JVM's own output (log4j, the Ivy resolution of
``spark.jars.packages``, a Java stack trace) goes to a log file rather than the terminal:
``$TRACECHECK_SPARK_LOG`` when set, else a file nobody sees that is gone when the process
ends. What went wrong is read back from that output, or from the exception the JVM raised
through Py4J, and becomes a :class:`SparkFailed`: one line, exit 2.

Settings the JVM reads as it starts (``spark.driver.memory``, ``spark.jars.packages`` …)
apply only when this process starts it: the first session in a process.

pyspark is imported only when a session is asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from traceability.errors import InputError, TracecheckError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Session settings tracecheck needs: DuckDB's decimal arithmetic and UTC.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
}

DEFAULT_MASTER = "local[2]"

#: Settings Spark's JVM reads once, as it starts (spark-submit's).
LAUNCH_SETTINGS = re.compile(
    r"spark\.(jars(\.\w+)*|driver\.(memory|cores|extraJavaOptions|extraClassPath"
    r"|extraLibraryPath|defaultJavaOptions)|submit\.\w+)$"
)

#: The Hadoop file system class of each object store scheme, and the connector that has it.
CONNECTORS = {
    "s3a": ("org.apache.hadoop.fs.s3a.S3AFileSystem", "S3A", "org.apache.hadoop:hadoop-aws"),
    "abfs": ("org.apache.hadoop.fs.azurebfs", "ABFS", "org.apache.hadoop:hadoop-azure"),
    "abfss": ("org.apache.hadoop.fs.azurebfs", "ABFS", "org.apache.hadoop:hadoop-azure"),
    "wasb": ("org.apache.hadoop.fs.azure", "WASB", "org.apache.hadoop:hadoop-azure"),
    "gs": ("com.google.cloud.hadoop.fs.gcs", "GCS", "com.google.cloud.bigdataoss:gcs-connector"),
}


class SparkMissing(InputError):
    """pyspark is not installed."""


class SparkFailed(InputError):
    """Spark, or the storage it reads, failed: the first meaningful line of what it said."""


def pyspark_sql() -> Any:
    """The ``pyspark.sql`` module, or :class:`SparkMissing`."""
    try:
        import pyspark.sql
    except ImportError:
        raise SparkMissing(
            "the Spark engine needs pyspark, which is not installed",
            hint="pip install 'tracecheck[spark]' (and Java 17 or newer)",
        ) from None
    return pyspark.sql


# --- what went wrong, in one line -------------------------------------------------------

_JAVA_CLASS = re.compile(r"^(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)(?::\s*|$)")
_FRAME = re.compile(r"^\s*(at [\w$.<>/]+\(|\.\.\. \d+ more|Caused by:|JVM stacktrace:)")


def _plain_message(text: str) -> str:
    """``text`` without the Java exception class names in front of it."""
    previous = None
    while previous != text:
        previous, text = text, _JAVA_CLASS.sub("", text.strip(), count=1)
    return text.strip()


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not _FRAME.match(ln)]


def _java_messages(exc: BaseException) -> list[str]:
    """What the JVM's exception behind ``exc`` says, then each of its causes in turn."""
    # Py4J's error holds the JVM's exception; pyspark's converted ones keep it as _origin
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    texts: list[str] = []
    try:
        while java is not None and len(texts) < 20:
            texts.append(str(java.toString()))
            java = java.getCause()
    except Exception:  # noqa: BLE001 - the JVM is gone: keep what was read
        pass
    return texts


def first_line(exc: BaseException) -> str:
    """The first meaningful line of what went wrong: the JVM's deepest cause where there is
    one (the most specific), without the Java class names in front."""
    for text in reversed(_java_messages(exc) or [str(exc)]):
        lines = _lines(text)
        said = _plain_message(lines[0]) if lines else ""
        if "Traceback (most recent call last)" in said:
            said = _python_error(lines) or said
        if said:
            return said
    return type(exc).__name__


def _python_error(lines: list[str]) -> str | None:
    """What a Python worker raised (``ModuleNotFoundError: No module named 'duckdb'``): the
    last line of its traceback, which Spark passes on as the first line of its own error."""
    ends = [i for i, ln in enumerate(lines) if ln.startswith("SQLSTATE")] or [len(lines)]
    raised = [ln for ln in lines[: ends[0]] if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", ln)]
    if not raised:
        return None
    return "a Python worker failed: " + raised[-1]


def is_spark_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Spark or the JVM (pyspark's or Py4J's exception types)."""
    return any((k.__module__ or "").split(".")[0] in {"pyspark", "py4j"} for k in type(exc).__mro__)


def missing_connector(exc: BaseException, path: str) -> SparkFailed | None:
    """The error for ``path`` on a scheme whose connector is not on Spark's class path."""
    scheme = path.split("://", 1)[0].lower() if "://" in path else ""
    if scheme not in CONNECTORS:
        return None
    where, name, artifact = CONNECTORS[scheme]
    text = str(exc) + "\n" + first_line(exc)
    if where not in text and f'No FileSystem for scheme "{scheme}"' not in text:
        return None
    if artifact.startswith("org.apache.hadoop:"):
        version = _hadoop_version()
        coordinate = f"{artifact}:{version}" if version else f"{artifact}:VERSION"
        which = "" if version else ", the version of Spark's Hadoop client"
    else:
        coordinate, which = f"{artifact}:VERSION", ", its Hadoop 3 build"
    return SparkFailed(
        f"cannot use {path}: the {name} connector ({scheme}://) is not on Spark's class path",
        hint=f"add it with --packages {coordinate}{which}; see docs/spark.md, Object storage",
    )


def _hadoop_version() -> str | None:
    """The version of the Hadoop client Spark runs, asked of the running JVM."""
    try:
        from pyspark import SparkContext

        jvm: Any = SparkContext._jvm
        return str(jvm.org.apache.hadoop.util.VersionInfo.getVersion()) if jvm else None
    except Exception:  # noqa: BLE001 - no JVM to ask
        return None


@contextmanager
def spark_errors(what: str, path: str | None = None) -> Iterator[None]:
    """Turn an exception Spark or the storage raises while doing ``what`` into a
    :class:`SparkFailed` (one line); tracecheck's own errors and bugs pass as they are."""
    try:
        yield
    except TracecheckError:
        raise
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        connector = missing_connector(exc, path) if path else None
        said = first_line(exc)
        if lost_jvm(said):  # Spark stopped itself, or its JVM ended: its log says why
            said = logged_reason() or said
        raise (connector or SparkFailed(f"{what}: {said}")) from None


# --- the JVM's own output -----------------------------------------------------------------

#: The settings of the JVM this process started.
_started: dict[str, Any] = {}


def logged_reason() -> str | None:
    """Why Spark stopped itself, as the JVM this process started logged it this session."""
    fd = _started.get("log")
    if fd is None:
        return None
    text = _read_log(fd, _started.get("since", 0))
    if "java.lang.OutOfMemoryError" in text:  # the JVM ended itself: every later error follows
        return OUT_OF_MEMORY
    found = re.findall(r"Reason: (.+)", text) or re.findall(r" ERROR [\w.$]+: (.+)", text)
    return str(found[-1]).strip() if found else None


#: What a JVM that ran out of heap said, and what to do.
OUT_OF_MEMORY = (
    "Spark ran out of memory (java.lang.OutOfMemoryError) and stopped; give it more "
    "(--conf spark.driver.memory=8g for a local master, spark.executor.memory on a cluster), "
    "or split large input files"
)


def lost_jvm(said: str) -> bool:
    """Whether Py4J lost the JVM (it ended), rather than Spark raising an error."""
    return "Connection refused" in said or "stopped SparkContext" in said


def _jvm_log() -> tuple[int, int]:
    """A file for the JVM's output (written, appended) and a descriptor to read it back."""
    named = os.environ.get("TRACECHECK_SPARK_LOG")
    if named:
        try:
            write = os.open(named, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            why = f"cannot write ({exc.strerror})"
            raise InputError(f"TRACECHECK_SPARK_LOG={named}: {why}") from None
        return write, os.open(named, os.O_RDONLY)
    fd, path = tempfile.mkstemp(prefix="tracecheck-spark-", suffix=".log")
    os.close(fd)
    write = os.open(path, os.O_WRONLY | os.O_APPEND)
    read = os.open(path, os.O_RDONLY)
    os.unlink(path)  # gone when both ends close
    return write, read


def _read_log(fd: int, since: int) -> str:
    """What the JVM wrote to its log after offset ``since`` (its last 64 KiB)."""
    size = os.fstat(fd).st_size
    start = max(since, size - 65536)
    return os.pread(fd, size - start, start).decode("utf-8", "replace")


def start_failure(output: str, master: str) -> SparkFailed:
    """The error for Spark's JVM that exited as it started, from what it printed."""
    lines = _lines(output)
    unresolved = re.findall(r"unresolved dependency: ([^:\s]+)#([^;\s]+);([^:\s]+)", output)
    if unresolved:
        names = ", ".join(f"{g}:{a}:{v}" for g, a, v in unresolved)
        return SparkFailed(
            f"Spark could not resolve --packages {names} in the repositories it searched",
            hint="check the coordinates (group:artifact:version) and --repositories",
        )
    if "JAVA_HOME is not set" in output or re.search(r"/java: (No such file|not found)", output):
        home = os.environ.get("JAVA_HOME")
        found = f"JAVA_HOME={home} holds no bin/java" if home else "no java on PATH"
        return SparkFailed(
            f"Spark needs Java 17 or newer: {found}",
            hint="install Java, or set JAVA_HOME to a Java installation",
        )
    if "Could not create the Java Virtual Machine" in output:  # the line before says why
        lines = [ln for ln in lines if not ln.startswith(("Error:", "WARNING:"))] or lines
    for line in lines:
        if line.startswith(("Error:", "Exception in thread")) or "Exception:" in line:
            said = _plain_message(line.removeprefix("Error:").split('"main"', 1)[-1])
            return SparkFailed(f"Spark did not start on {master}: {said}")
    said = lines[-1] if lines else "its JVM exited without saying why"
    return SparkFailed(f"Spark did not start on {master}: {said}")


def _launch(master: str, settings: Mapping[str, str]) -> None:
    """Start Spark's JVM with ``settings``, its output in the log, unless one runs."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    launch: Any = launch_gateway  # pyspark leaves it untyped

    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        launched = _started.get("settings", {})
        for key, value in settings.items():
            if LAUNCH_SETTINGS.match(key) and launched.get(key) != value:
                raise SparkFailed(
                    f"{key} applies when Spark's JVM starts, and this process already runs one",
                    hint="run in a new process",
                )
        return
    conf = SparkConf().setMaster(master).setAll(list(settings.items()))
    write, read = _jvm_log()
    since = os.fstat(write).st_size
    try:
        gateway = launch(conf, popen_kwargs={"stdout": write, "stderr": write})
    except Exception as exc:
        said = _read_log(read, since)
        os.close(read)
        if not is_spark_error(exc):
            raise
        raise start_failure(said, master) from None
    finally:
        os.close(write)
    _started.update(settings=dict(settings), log=read, since=since)  # kept while the JVM runs
    SparkContext(conf=conf, gateway=gateway)


def _submitted_master() -> str | None:
    """The master ``spark-submit`` was given, when it runs this process: its JVM is
    already up (``PYSPARK_GATEWAY_PORT``) and holds the submitted settings."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    from pyspark import SparkConf, SparkContext

    # connect to that JVM first: a SparkConf reads the submitted settings from it
    SparkContext._ensure_initialized()
    master = SparkConf().get("spark.master", None)
    return str(master) if master else None


def _settings(master: str, conf: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """Every setting of a new session, and a temporary folder it uses (to remove after)."""
    settings = {
        "spark.app.name": "tracecheck",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **REQUIRED_CONF,
    }
    warehouse = None
    if master.startswith("local"):
        # the default of 200 shuffle partitions is for clusters; adaptive execution
        # merges small ones, but a local run still pays a task for each
        settings["spark.sql.shuffle.partitions"] = "4"
        # no Hive warehouse folder in the working directory
        warehouse = tempfile.mkdtemp(prefix="tracecheck-warehouse-")
        settings["spark.sql.warehouse.dir"] = warehouse
        # one process: talk to itself on loopback, whatever the host name resolves to
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    return {**settings, **conf}, warehouse


@contextmanager
def spark_session(
    master: str | None = None, conf: Mapping[str, str] | None = None
) -> Iterator[SparkSession]:
    """A Spark session set up for tracecheck; stopped on exit if this call started it.

    ``master`` defaults to ``$TRACECHECK_SPARK_MASTER``, else the master ``spark-submit``
    was given when it runs this process, else ``local[2]``. A session
    already active in this process is reused (its master unchanged) with the settings
    tracecheck needs.

    Raises:
        SparkMissing: pyspark is not installed.
        SparkFailed: Spark did not start (no Java, a bad master URL or setting, a package
            that cannot be resolved).
    """
    for key, value in REQUIRED_CONF.items():
        if (conf or {}).get(key, value) != value:
            raise InputError(f"tracecheck needs {key}={value}; it cannot be changed")
    sql = pyspark_sql()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        with spark_errors("Spark refused a setting"):
            for key, value in {**REQUIRED_CONF, **(conf or {})}.items():
                active.conf.set(key, value)
        yield active
        return
    master = (
        master or os.environ.get("TRACECHECK_SPARK_MASTER") or _submitted_master() or DEFAULT_MASTER
    )
    settings, warehouse = _settings(master, conf or {})
    if "spark.pyspark.python" in settings:
        # spark-submit turns this setting into the variable pyspark reads, once, as the
        # context starts, to name the executors' Python; tracecheck starts Spark itself
        os.environ["PYSPARK_PYTHON"] = settings["spark.pyspark.python"]
    session = None
    if "log" in _started:  # what the JVM logs from here on is this session's
        _started["since"] = os.fstat(_started["log"]).st_size
    try:
        with spark_errors(f"Spark did not start on {master}"):
            _launch(master, settings)
            builder = sql.SparkSession.builder.master(master)
            for key, value in settings.items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            session.conf.get("spark.sql.session.timeZone")  # a bad SQL setting fails here
        yield session
    finally:
        if session is None:  # it failed to start: stop what did
            session = sql.SparkSession.getActiveSession()
        if session is not None:
            session.stop()
        if warehouse is not None:
            shutil.rmtree(warehouse, ignore_errors=True)
