"""The embedded CouchDB-API server: PouchDB Server (npm) on 127.0.0.1.

Started as a child process with its LevelDB data, its `/_config` file and its
log inside a folder we own, so nothing lands in the working directory. It
starts in CouchDB's "admin party"; `Couch.ensure_admin` closes that at once.

PouchDB Server keeps every database it has opened open, about four files each
(LevelDB's log, manifest, lock and table), and never closes them; the worker's
sweep opens every volunteer database. So the number of open files a process
may have (RLIMIT_NOFILE, often 1,024 by default) bounds how many volunteers it
can serve: past it PouchDB Server dies at the next sweep. The limit is raised
as far as the system allows before it starts, and `room_for` says how many
volunteer databases that leaves room for.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from messages import say
from sync.couch import Couch, CouchError


class EmbeddedCouchError(Exception):
    pass


# Measured with PouchDB Server 4 on LevelDB: 34 files open at start, then 4 more
# for each database opened. The base leaves room beside them for the connections
# of the web server's threads and the worker.
FILES_PER_DATABASE = 4
FILES_BASE = 100
# Databases every instance has beside the volunteers': forms, _users, and PouchDB
# Server's own bookkeeping.
OTHER_DATABASES = 4
PID_FILE = "pouchdb-server.pid"


@dataclass(frozen=True)
class OpenFiles:
    """PouchDB Server's open files against its limit, and the volunteers that leaves room for."""

    limit: int
    open: int | None = None

    @property
    def room_for(self) -> int:
        return max(0, (self.limit - FILES_BASE) // FILES_PER_DATABASE - OTHER_DATABASES)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (children
    inherit it); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Linux refuses an infinite soft limit of files; its own ceiling is nr_open.
    ceiling = hard if hard != resource.RLIM_INFINITY else (_nr_open() or soft)
    if soft == resource.RLIM_INFINITY:
        return ceiling
    if soft < ceiling:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
        except (ValueError, OSError):
            pass  # the soft limit stays; what it allows is said all the same
    return soft


def _nr_open() -> int | None:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return None


def open_files(data_dir: Path) -> OpenFiles | None:
    """The running PouchDB Server's open files and limit, read from the system by the
    process id its start left in `data_dir`; None where that cannot be read."""
    try:
        pid = int((data_dir / PID_FILE).read_text())
        soft, _hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        count = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError, AttributeError):  # gone, not ours, or not Linux
        return None
    return OpenFiles(soft, count)


def pouchdb_server_bin(node_modules: Path) -> Path:
    path = node_modules / ".bin" / "pouchdb-server"
    if not path.exists():
        raise EmbeddedCouchError(" / ".join(say("sync.embedded.pouchdb_server_missing")))
    return path


def start(node_modules: Path, data_dir: Path, port: int, log_path: Path | None = None,
          wait_seconds: float = 30.0) -> subprocess.Popen:
    """Start PouchDB Server and wait until it answers; return the process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path or data_dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [str(pouchdb_server_bin(node_modules)), "--host", "127.0.0.1", "--port", str(port),
         "--dir", str(data_dir), "--config", str(data_dir / "config.json"),
         "--no-stdout-logs"],
        cwd=data_dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    (data_dir / PID_FILE).write_text(str(process.pid))
    probe = Couch(f"http://127.0.0.1:{port}", "", "", timeout=1)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedCouchError(
                f"PouchDB Server stopped at start (exit {process.returncode}); see "
                f"{data_dir / 'stdout.log'}")
        try:
            probe.server_info()
            return process
        except CouchError:
            time.sleep(0.2)
    process.kill()
    process.wait()
    raise EmbeddedCouchError(f"PouchDB Server did not answer on port {port} in time")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
