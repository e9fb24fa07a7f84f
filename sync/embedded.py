"""The embedded CouchDB-API server: PouchDB Server (npm) on 127.0.0.1.

Started as a child process with its LevelDB data, its `/_config` file and its
log inside a folder we own, so nothing lands in the working directory. It
starts in CouchDB's "admin party"; `Couch.ensure_admin` closes that at once.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from sync.couch import Couch, CouchError


class EmbeddedCouchError(Exception):
    pass


def pouchdb_server_bin(node_modules: Path) -> Path:
    path = node_modules / ".bin" / "pouchdb-server"
    if not path.exists():
        raise EmbeddedCouchError(
            "Thiếu pouchdb-server: hãy chạy `make run` hoặc `npm ci`. / "
            "pouchdb-server is missing: run `make run` or `npm ci`.")
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
