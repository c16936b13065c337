"""A standalone Spark cluster on this machine for tests: one master and one worker.

Both are started from pyspark's own ``bin/spark-class``, bound to 127.0.0.1 on free ports,
each in a process group of its own (the worker's executors join its group), and always
stopped: SIGTERM to each group, SIGKILL after a bounded wait. Use the ``spark_cluster``
fixture (module scope: import it into a test module) or :func:`standalone_cluster`.
They skip, saying why, where pyspark or Java is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

HOST = "127.0.0.1"
#: How long the master and the worker may take to come up (seconds).
START_TIMEOUT = 60.0
#: How long each may take to stop after SIGTERM (seconds).
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster."""

    master: str  # spark://127.0.0.1:PORT
    web: str  # the master's web UI: http://127.0.0.1:PORT
    logs: Path  # the master's and the worker's output

    def state(self) -> dict[str, Any]:
        """The master's state, as its web UI's JSON says it."""
        with urllib.request.urlopen(f"{self.web}/json/", timeout=5) as answer:
            state: dict[str, Any] = json.load(answer)
        return state

    def log(self) -> str:
        """The master's and the worker's output so far."""
        return "\n".join(p.read_text("utf-8", "replace") for p in sorted(self.logs.glob("*.log")))


def free_port() -> int:
    """A TCP port nothing listens on now (the OS's choice) on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def spark_home() -> Path:
    """pyspark's folder (it holds bin/spark-class and the jars); skip without pyspark or Java."""
    pyspark = pytest.importorskip(
        "pyspark", reason="pyspark is not installed (pip install '.[spark]')"
    )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime: Spark needs Java 17 or newer")
    return Path(pyspark.__file__).parent


def _start(
    stack: ExitStack, home: Path, env: dict[str, str], args: list[str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(home / "bin" / "spark-class"), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, with everything it starts
    )
    stack.callback(_stop, process)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group; SIGKILL to what is left of it after a while."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)  # the group outlives its leader while an executor runs
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass


def _wait_for_worker(cluster: Cluster, processes: list[subprocess.Popen[bytes]]) -> None:
    """Until the master lists a live worker; fail after START_TIMEOUT seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"a Spark daemon exited ({process.returncode}):\n{cluster.log()}")
        try:
            workers = cluster.state().get("aliveworkers", 0)
        except OSError:  # the web UI is not up yet
            workers = 0
        if isinstance(workers, int) and workers >= 1:
            return
        time.sleep(0.5)
    pytest.fail(f"no worker registered within {START_TIMEOUT:.0f} s:\n{cluster.log()}")


@contextmanager
def standalone_cluster(folder: Path, *, cores: int = 1, memory: str = "1g") -> Iterator[Cluster]:
    """A master and one worker of ``cores`` and ``memory`` on 127.0.0.1; logs and the
    worker's folder under ``folder``; both stopped on exit."""
    home = spark_home()
    folder.mkdir(parents=True, exist_ok=True)
    port, web, worker_web = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOG_DIR": str(folder),
        "PYSPARK_PYTHON": sys.executable,
    }
    cluster = Cluster(f"spark://{HOST}:{port}", f"http://{HOST}:{web}", folder)
    master_args = ["org.apache.spark.deploy.master.Master", "--host", HOST]
    master_args += ["--port", str(port), "--webui-port", str(web)]
    worker_args = ["org.apache.spark.deploy.worker.Worker", cluster.master, "--host", HOST]
    worker_args += ["--cores", str(cores), "--memory", memory, "--webui-port", str(worker_web)]
    worker_args += ["--work-dir", str(folder / "work")]
    with ExitStack() as stack:
        master_log = stack.enter_context((folder / "master.log").open("wb"))
        worker_log = stack.enter_context((folder / "worker.log").open("wb"))
        processes = [_start(stack, home, env, master_args, master_log)]
        processes.append(_start(stack, home, env, worker_args, worker_log))
        _wait_for_worker(cluster, processes)
        yield cluster


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A standalone master and one worker (1 core, 1 GiB) for the tests of a module."""
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster
