"""`sotay run` as a newcomer starts it: everything comes up, a process that
dies is started again, and Ctrl-C (SIGTERM) leaves nothing behind."""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

from server.actions.auth import CLI_ACTOR
from server.actions.health import ROOM_WARNING_SHARE
from server.actions.users import create_user
from server.app import create_app
from server.config import build_config
from server.models import db
from sync import embedded
from tests.conftest import ROOT, free_port
from tests.polling import wait_for
from tests.server.helpers import household_answers, survey_doc


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return json.load(reply).get("couchdb", {}).get("ok", False) is True
    except (OSError, ValueError):
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
    env = {**instance_env(tmp_path, web, couch), "SOTAY_INGEST_POLL_SECONDS": "0.5",
           "SOTAY_INGEST_SWEEP_SECONDS": "3"}
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process, web, env
    if process.poll() is None:
        process.kill()
    for pid in children_of(process.pid):
        os.kill(pid, signal.SIGKILL)
    process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


def test_a_dead_couchdb_api_is_restarted_and_ctrl_c_stops_everything(sotay_run):
    process, web, _env = sotay_run
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


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as err:
        return json.load(err)
    except (OSError, ValueError):
        return {}


def add_volunteer(env: dict, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "server.cli", "users", "add", name, "--role",
                          "volunteer", "--group", "tdp03"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.split("database ")[1].split()[0]


def test_a_database_that_stops_pouchdb_server_is_held_and_the_rest_goes_on(sotay_run):
    """A broken revision tree (as the gateway once let through) kills PouchDB Server on
    every read of its database's feed: the supervisor gave up after 5 restarts and
    stopped everything, and a second `make run` died the same way."""
    process, web, env = sotay_run
    assert wait_for(lambda: healthy(web), 90), "sotay run did not come up"
    broken_db, good_db = add_volunteer(env, "vol-broken"), add_volunteer(env, "vol-good")
    instance = Path(env["SOTAY_INSTANCE"])
    secrets = json.loads((instance / "secrets.json").read_text())
    couch = requests.Session()
    couch.auth = ("sotay_admin", secrets["couch_password"])
    base = f"http://127.0.0.1:{env['SOTAY_COUCHDB_PORT']}"
    good = survey_doc(household_answers(), volunteer="vol-good")
    assert couch.put(f"{base}/{good_db}/{good['_id']}", json=good).status_code == 201
    broken = couch.post(f"{base}/{broken_db}/_bulk_docs", json={"new_edits": False, "docs": [
        {"_id": "survey:x", "_rev": "1-a", "_revisions": {"start": "x", "ids": 5}}]})
    assert broken.status_code == 201  # PouchDB Server takes it: the gateway must not

    def held() -> list[str]:
        return [item["couch_db"] for item in health(web).get("ingest", {}).get(
            "held_databases", [])]

    assert wait_for(lambda: held() == [broken_db], 120), health(web)
    assert wait_for(lambda: healthy(web), 60)

    def stored() -> list[str]:
        with sqlite3.connect(instance / "sotay.db") as conn:
            return [row[0] for row in conn.execute(
                "SELECT doc_id FROM submissions UNION ALL SELECT doc_id FROM quarantine")]

    assert wait_for(lambda: stored() == [good["_id"]], 30), stored()
    time.sleep(8)  # several sweeps: the held database is not read again
    assert process.poll() is None and healthy(web)

    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert 0 < out.count("PouchDB Server đã dừng") <= 3, out
    second = subprocess.Popen([sys.executable, "-m", "server.cli", "run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: healthy(web), 90), "the second run did not come up"
        time.sleep(8)
        assert second.poll() is None and healthy(web) and held() == [broken_db]
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=30)
    assert "PouchDB Server đã dừng" not in out, out


def instance_env(folder: Path, web: int, couch: int) -> dict[str, str]:
    """The environment of `sotay` commands on the embedded default in `folder/instance`."""
    env = {**os.environ, "SOTAY_INSTANCE": str(folder / "instance"), "SOTAY_PORT": str(web),
           "SOTAY_COUCHDB_PORT": str(couch), "SOTAY_NODE_MODULES": str(ROOT / "node_modules")}
    for name in ("SOTAY_DATABASE_URL", "SOTAY_COUCHDB_URL"):
        env.pop(name, None)
    return env


def start_run(folder: Path, web: int, couch: int, soft: int, hard: int) -> subprocess.Popen:
    """`sotay run` started the way a shell whose `ulimit -n` is `soft` (of `hard`) starts it,
    its output in `folder/run.log`."""
    with (folder / "run.log").open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", "run"], cwd=ROOT,
            env=instance_env(folder, web, couch), stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))


def stop_run(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def test_run_raises_the_open_files_limit_says_the_room_and_warns_before_it_is_full(
        tmp_path, monkeypatch):
    web, couch = free_port(), free_port()
    soft, hard = 200, 300
    room = embedded.OpenFiles(hard).room_for
    process = start_run(tmp_path, web, couch, soft, hard)
    try:
        assert wait_for(lambda: healthy(web), 90), (tmp_path / "run.log").read_text()
        pouchdb = [pid for pid in children_of(process.pid) if "pouchdb-server" in
                   command_of(pid)]
        assert resource.prlimit(pouchdb[0], resource.RLIMIT_NOFILE) == (hard, hard)
        assert f"room for about {room} volunteers" in (tmp_path / "run.log").read_text()

        # The ward adds volunteers until their databases near what the limit allows.
        monkeypatch.setenv("SOTAY_COUCHDB_PORT", str(couch))
        app = create_app(build_config(tmp_path / "instance"))
        with app.app_context():
            for i in range(math.ceil(ROOM_WARNING_SHARE * room)):
                create_user(CLI_ACTOR, f"tnv{i:03d}", "mat-khau-1", "volunteer", "tdp01")
                db.session.commit()
            db.engine.dispose()
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=5) as reply:
            databases = json.load(reply)["couchdb"]["databases"]
        assert databases["state"] == "near" and databases["room_for"] == room, databases
        assert databases["open_files_limit"] == hard and databases["vi"] and databases["en"]
        # Whoever adds the next volunteer is told too.
        added = subprocess.run(
            [sys.executable, "-m", "server.cli", "users", "add", "tnv-moi", "--role",
             "volunteer", "--group", "tdp01"], cwd=ROOT, capture_output=True, text=True,
            env=instance_env(tmp_path, web, couch), timeout=60)
        assert added.returncode == 0, added.stderr
        assert f"room for about {room} volunteer databases" in added.stderr, added.stderr
    finally:
        stop_run(process)

    # Started again, `run` says so at once.
    process = start_run(tmp_path, web, couch, soft, hard)
    try:
        assert wait_for(lambda: "there are" in (tmp_path / "run.log").read_text(), 90), (
            tmp_path / "run.log").read_text()
        log = (tmp_path / "run.log").read_text()
        assert f"room for about {room} volunteer databases (limit of {hard} open files)" in log
    finally:
        stop_run(process)


def test_a_process_stopped_on_a_configuration_error_is_not_started_again(capsys):
    """A worker whose admin password CouchDB refuses exits with EXIT_CONFIG: starting it
    again would be one more failed login towards CouchDB's lockout of the admin."""
    from server.command_errors import EXIT_CONFIG
    from server.supervisor import _Child, _supervise

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
