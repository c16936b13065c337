"""What the benchmarks share: the line naming the machine they ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
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
