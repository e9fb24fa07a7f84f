"""`sotay run` as a newcomer starts it: everything comes up, a process that
dies is started again, and Ctrl-C (SIGTERM) leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return json.load(reply).get("couchdb", {}).get("ok", False) is True
    except (OSError, ValueError):
        return False


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def sotay_run(tmp_path):
    web, couch = free_port(), free_port()
    env = {**os.environ, "SOTAY_INSTANCE": str(tmp_path / "instance"), "SOTAY_PORT": str(web),
           "SOTAY_COUCHDB_PORT": str(couch), "SOTAY_NODE_MODULES": str(ROOT / "node_modules"),
           "SOTAY_INGEST_POLL_SECONDS": "0.5"}
    for name in ("SOTAY_DATABASE_URL", "SOTAY_COUCHDB_URL"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process, web
    if process.poll() is None:
        process.kill()
    for pid in children_of(process.pid):
        os.kill(pid, signal.SIGKILL)
    process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


def test_a_dead_couchdb_api_is_restarted_and_ctrl_c_stops_everything(sotay_run):
    process, web = sotay_run
    assert wait_for(lambda: healthy(web), 90), "sotay run did not come up"
    children = children_of(process.pid)
    pouchdb = [pid for pid in children if "pouchdb-server" in command_of(pid)]
    assert len(children) == 3 and len(pouchdb) == 1, [command_of(p) for p in children]

    os.kill(pouchdb[0], signal.SIGKILL)
    assert wait_for(lambda: not healthy(web), 10)
    assert wait_for(lambda: healthy(web), 60), "the CouchDB API was not started again"
    restarted = [pid for pid in children_of(process.pid) if "pouchdb-server" in command_of(pid)]
    assert len(restarted) == 1 and restarted != pouchdb

    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert "PouchDB Server" in out and "restarting" in out, out
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text().lower()


def test_a_process_stopped_on_a_configuration_error_is_not_started_again(capsys):
    """A worker whose admin password CouchDB refuses exits with EXIT_CONFIG: starting it
    again would be one more failed login towards CouchDB's lockout of the admin."""
    from server.cli import EXIT_CONFIG, _Child, _supervise

    child = _Child("ingest worker", lambda: subprocess.Popen(
        [sys.executable, "-c", f"raise SystemExit({EXIT_CONFIG})"]))
    child.process = child.start()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _supervise([child])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert not child.restarts
    assert "configuration error" in capsys.readouterr().err
