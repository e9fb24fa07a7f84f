"""`_db_updates` recovers (issue 20, item 4): a worker whose `_db_updates` call fails
goes on with the gateway's marks, asks again with a growing pause, and follows
it again once CouchDB answers; a server without it is asked again at each sweep.
Against an Apache CouchDB 3 node of the test's own, stopped and started again."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time

import pytest

from sync.ingest import DB_UPDATES, MARKS, RETRYING, News, following
from sync.ingest.memory import MemoryStore
from tests.conftest import COUCHDB3_RELEASE, ROOT, couchdb3_server, free_port


class SweepEachTime(MemoryStore):
    """A queue whose sweeps come when the test says (`sweeps_left`)."""

    sweeps_left = 0

    def sweep_due(self, every_seconds: float) -> bool:
        if self.sweeps_left <= 0:
            return False
        self.sweeps_left -= 1
        return True


@pytest.fixture
def node():
    start, stop = COUCHDB3_RELEASE / "start-couchdb", COUCHDB3_RELEASE / "stop-couchdb"
    if not start.exists():
        pytest.skip(f"no Apache CouchDB 3 release at {COUCHDB3_RELEASE} (start-couchdb)")
    folder = ROOT / ".cache" / "couchdb3" / "db-updates"
    shutil.rmtree(folder / "couchdb" / "data", ignore_errors=True)
    port, password = free_port(), secrets.token_hex(8)

    def run(script) -> str:
        done = subprocess.run([str(script), str(folder), str(port), password],
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-500:]
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    url = run(start)
    yield couchdb3_server(url), lambda: run(stop), lambda: run(start)
    subprocess.run([str(stop), str(folder)], capture_output=True, timeout=60)


def test_db_updates_is_followed_again_after_the_node_comes_back(node, monkeypatch):
    server, stop, start = node
    monkeypatch.setattr(following, "RETRY_MAX_SECONDS", 2.0)
    couch = server.client()
    store = MemoryStore(volunteers=["userdb-a"])
    news = News(couch, store, sweep_seconds=3600)
    assert news.gather(0.1) and news.mode == DB_UPDATES
    stop()
    assert not news.gather(0.1) and news.mode == RETRYING
    assert "retry in 1 s" in news.detail
    time.sleep(1.1)
    news.gather(0.1)
    assert news.mode == RETRYING and "retry in 2 s" in news.detail  # the pause grows
    start()
    couch.ensure_db("userdb-a")
    deadline = time.monotonic() + 30
    while news.mode != DB_UPDATES:
        assert time.monotonic() < deadline, news.detail
        news.gather(0.5)
        time.sleep(0.2)
    couch.bulk_write("userdb-a", [{"_id": "survey:x", "type": "survey"}])
    deadline = time.monotonic() + 10
    while not store.news.get("userdb-a"):
        assert time.monotonic() < deadline, "the write was not noticed"
        news.gather(0.5)


def test_a_server_without_db_updates_is_asked_again_at_each_sweep(node):
    server, _stop, _start = node
    couch = server.client()
    couch.delete_db("_global_changes")
    store = SweepEachTime(volunteers=["userdb-a"])
    news = News(couch, store, sweep_seconds=3600)
    assert not news.gather(0.1) and news.mode == MARKS
    assert "_global_changes" in news.detail
    couch.ensure_db("_global_changes")
    assert not news.gather(0.1) and news.mode == MARKS  # not asked again before a sweep
    store.sweeps_left = 1
    news.gather(0.1)  # the sweep asks again
    assert news.mode == DB_UPDATES
    assert store.news == {"userdb-a": 1}  # and notices every volunteer database
