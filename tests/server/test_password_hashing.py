"""Password hashes (issue 19, F20): each takes 32 MiB, so a web process computes a
bounded number at once however many logins arrive together.

Memory is read from the kernel: /proc/self/clear_refs resets this process's
peak resident size (VmHWM) to its current size, and VmHWM after the logins is
the most it held while they ran. No time is measured.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from server.passwords import METHOD

MIB = 1024 * 1024
HASH_BYTES = 128 * 32768 * 8  # scrypt's 128 · N · r
LOGINS = 24


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as err:
        pytest.skip(f"this kernel does not let a process reset its peak memory: {err}")


def test_the_documented_parameters_are_the_ones_used():
    assert METHOD == "scrypt:32768:8:1" and HASH_BYTES == 32 * MIB


def test_many_logins_at_once_keep_memory_bounded(app):
    at_once = app.config["LOGIN_HASHES_AT_ONCE"]
    start = threading.Barrier(LOGINS)

    def log_in(n: int) -> int:
        client = app.test_client()
        start.wait()
        return client.post("/api/session", json={"username": f"nobody{n}", "password": "x"},
                           environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code

    with ThreadPoolExecutor(LOGINS) as pool:
        list(pool.map(lambda _: None, range(LOGINS)))  # the threads exist before measuring
        reset_peak()
        before = memory_kib("VmRSS")
        codes = list(pool.map(log_in, range(LOGINS)))
        peak = memory_kib("VmHWM")
    assert codes == [401] * LOGINS
    grown = (peak - before) * 1024
    # The hashes running together, and one more hash's worth for everything else.
    assert grown < (at_once + 1) * HASH_BYTES, f"{grown / MIB:.0f} MiB for {LOGINS} logins"
