"""What the benchmarks share: the machine they ran on, fresh processes, memory per stage."""

from __future__ import annotations

import itertools
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine() -> str:
    """One line naming the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
        f"{mem:.0f} GiB RAM, Python {platform.python_version()}"
    )


def workdir(prefix: str, parent: Path | None) -> Path:
    """A new folder for a benchmark's files, inside ``parent`` (made if missing) or the
    system's temporary folder."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=ensure_folder(parent)))


def ensure_folder(folder: Path | None) -> Path | None:
    """``folder``, made first if it does not exist yet (None stays None: the system's
    temporary folder)."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def load_average() -> str:
    """The system load average over 1, 5 and 15 minutes (other work on a shared machine)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def run(script: str, *args: str, code: Path | None = None) -> tuple[float, float, str]:
    """Run a script in a fresh process; (seconds, its own peak RSS in MiB, stdout).

    ``code``: a checkout whose ``traceability`` package the script imports instead of the
    installed one (to measure another version on the same data, sides taking turns).
    """
    env = None
    if code is not None:
        env = {**os.environ, "PYTHONPATH": str(code.resolve())}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, out.strip()


class StagePeak:
    """The peak RSS of this process during one stage, as the kernel keeps it.

    Linux keeps a process's high-water mark of resident memory (``VmHWM`` in
    ``/proc/self/status``); writing ``5`` to ``/proc/self/clear_refs`` resets it to the
    present RSS. So ``start()`` before a stage and ``peak()`` after it give the stage's
    exact peak, with nothing sampled and nothing missed; what earlier stages left in
    memory (a base table DuckDB holds) is part of it, as it is of the process's memory.
    Where the reset is not possible the figure is the peak since the process started,
    and ``reset`` says so.
    """

    def __init__(self) -> None:
        self.reset = True

    @staticmethod
    def _status(field: str) -> float:
        """A memory figure of ``/proc/self/status`` in MiB (0 where there is none)."""
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def start(self) -> float:
        """Reset the high-water mark; the RSS the stage starts from, in MiB."""
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.reset = False
        return self._status("VmRSS")

    def peak(self) -> float:
        """The highest RSS since ``start()``, in MiB."""
        return self._status("VmHWM")


def growth(sizes: list[float], seconds: list[float | None]) -> list[float | None]:
    """How cost grows between consecutive sizes: log(t2/t1) / log(n2/n1) for each step.

    1 is linear, 2 quadratic; None where a time is missing or zero.
    """
    out: list[float | None] = []
    for (n1, t1), (n2, t2) in itertools.pairwise(zip(sizes, seconds, strict=True)):
        if not t1 or not t2 or n1 <= 0 or n2 <= n1:
            out.append(None)
        else:
            out.append(math.log(t2 / t1) / math.log(n2 / n1))
    return out
