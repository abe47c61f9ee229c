"""Wall time and peak resident set of a benchmarked command, shared by the bench scripts.

The peak comes from the process's own VmHWM (/proc/<pid>/status), polled every 10 ms until
it exits. wait4()'s ru_maxrss is not usable: Linux keeps it across execve, so a child forked
from a Python process holding pyarrow reports at least that process's size."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def vm_hwm_kib(pid: int) -> int:
    """VmHWM (peak resident set, KiB) of a running process; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], log_path: Path) -> tuple[float, int, int]:
    """Runs `cmd` with stdout and stderr to `log_path`: (seconds, exit code, peak RSS KiB)."""
    with open(log_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            peak = max(peak, vm_hwm_kib(proc.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
    return seconds, os.waitstatus_to_exitcode(status), peak
