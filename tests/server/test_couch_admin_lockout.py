"""One process with a wrong admin password must not lock the admin out for the others.

Apache CouchDB 3.4 locks a user for five minutes after five failed logins from
one address (`[chttpd_auth_lockout]`, on by default). These tests run a node
of their own (own folder, port and data: the lockout they risk must not reach
the suite's shared server) and show that a worker, a web app and the commands
given a wrong password make one failed login and no more, while the real
admin keeps working.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
import requests

from media.pipeline import Limits
from server import services
from server.app import create_app
from server.command_errors import EXIT_CONFIG
from server.ingest_store import SqlIngestStore
from server.models import db
from server.worker import background_loop
from sync.ingest import follow
from tests.conftest import ROOT, CouchServer, couchdb3_node, make_config

# CouchDB 3.4's default `[chttpd_auth_lockout] threshold`.
LOCKOUT_THRESHOLD = 5


@pytest.fixture(scope="module")
def node() -> CouchServer:
    with couchdb3_node("lockout") as server:
        yield server


@pytest.fixture
def admin(node) -> CouchServer:
    """A server admin of this test's own: failed logins count per user, and the
    lockout would otherwise add up over the tests of this module."""
    name = f"ops-{secrets.token_hex(4)}"
    own = replace(node, admin=name, password=secrets.token_hex(8))
    assert node.client().add_admin(own.admin, own.password, auth=(node.admin, node.password))
    return own


def admin_still_works(node: CouchServer) -> None:
    reply = requests.get(f"{node.base}/_session", auth=(node.admin, node.password), timeout=10)
    assert reply.status_code == 200, reply.text
    assert "_admin" in reply.json()["userCtx"]["roles"]


def failed_logins(node: CouchServer) -> int:
    """Requests the node refused for wrong credentials (its access log names no user
    for them)."""
    log = (ROOT / ".cache" / "couchdb3" / "lockout" / "couchdb.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if " undefined " in line and " 401 " in line)


def test_a_worker_with_a_wrong_password_does_not_lock_the_admin_out(node, admin, tmp_path):
    wrong = replace(admin, password="not-the-password")
    app = create_app({**make_config(wrong, f"sqlite:///{tmp_path / 'sotay.db'}", tmp_path),
                      "INGEST_POLL_SECONDS": 0.02})
    with app.app_context():
        db.create_all()
    before = failed_logins(node)
    stop = threading.Event()

    def ingest() -> None:
        with app.app_context():
            follow(services.couch(), SqlIngestStore(), services.photo_store(), Limits(), stop,
                   poll_seconds=0.02, sweep_seconds=0.02)

    # The worker's two loops, as `sotay worker` runs them: ingest, feedback delivery.
    workers = [threading.Thread(target=ingest, daemon=True),
               threading.Thread(target=background_loop, args=(app, stop), daemon=True)]
    for worker in workers:
        worker.start()
    # Without the gate, this many turns of the loop would be ten times the threshold.
    health = app.test_client()
    for _ in range(LOCKOUT_THRESHOLD * 10):
        assert health.get("/healthz").status_code == 503
    stop.wait(1.0)
    stop.set()
    for worker in workers:
        worker.join(10)
    with app.app_context():
        db.engine.dispose()
    assert failed_logins(node) - before <= 2
    admin_still_works(admin)


def sotay(node: CouchServer, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOTAY_INSTANCE": str(tmp_path),
           "SOTAY_DATABASE_URL": f"sqlite:///{tmp_path / 'sotay.db'}",
           "SOTAY_COUCHDB_URL": node.url, "SOTAY_NODE_MODULES": str(ROOT / "node_modules")}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["init"], ["worker"], ["serve", "--port", "0"],
                                     ["users", "add", "lan", "--role", "volunteer"]])
def test_a_command_with_a_wrong_password_says_so_in_one_line_and_stops(node, admin, tmp_path,
                                                                       command):
    before = failed_logins(node)
    done = sotay(replace(admin, password="stale-password"), tmp_path, *command)
    assert done.returncode == EXIT_CONFIG, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert node.base in line and "stale-password" not in line
    assert "từ chối tài khoản quản trị" in line and "refused the admin" in line
    assert "Name or password is incorrect" in line  # what CouchDB said
    assert "SOTAY_COUCHDB_URL" in line  # what to check
    assert failed_logins(node) - before == 1
    admin_still_works(admin)


@pytest.mark.parametrize("command", [["init"], ["worker"], ["serve", "--port", "0"],
                                     ["users", "add", "lan", "--role", "volunteer"]])
def test_a_command_with_couchdb_unreachable_says_so_in_one_line(tmp_path, command):
    closed = CouchServer("http://127.0.0.1:9", "admin", "secret-pw", 9)
    done = sotay(closed, tmp_path, *command)
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "http://127.0.0.1:9" in line and "secret-pw" not in line
    assert "Không kết nối được CouchDB" in line and "Cannot reach CouchDB" in line
    assert "Connection refused" in line and "SOTAY_COUCHDB_URL" in line
