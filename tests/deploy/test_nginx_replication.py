"""Apache CouchDB 3's own replicator through the documented stack: nginx (the
shipped `deploy/nginx/sotay.conf`, TLS) in front of `sotay serve` (waitress)
in front of the suite's CouchDB-API server, pulling from and pushing to a
volunteer's database with the volunteer's session cookie.

The replicator is a CouchDB 3 node of this module's own (from the release
beside the project), whose log shows every request it had to retry; where
that release is absent, the server of `SOTAY_TEST_COUCHDB_URL` replicates
(its log unread); with neither, the tests are skipped, saying so.

Also here, without nginx: the gateway keeps a client's connection open across
replies CouchDB sends chunked. waitress closes the connection after any reply
without a Content-Length, and CouchDB's replicator then failed its next request
on that connection (`sel_conn_closed`), retried, and fell back from
`_bulk_get` to one GET per document.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from tests.conftest import (
    COUCHDB3_RELEASE,
    COUCHDB_URL,
    ROOT,
    CouchServer,
    couchdb3_node,
    couchdb3_server,
    http_log_in,
    make_account,
)
from tests.deploy.stack import (
    log_in,
    nginx_binary,
    nginx_in_front,
    replicate,
    sotay_serve,
    through_gateway,
)
from tests.sync.phone import phone_docs

SURVEYS, PHOTOS = 120, 12
REPLICATOR_CONNECTIONS = 20  # CouchDB's [replicator] http_connections, by default
# CouchDB's replicator moves a document with attachments as multipart: it asks
# for one that way (`open_revs`, `Accept: multipart/mixed`), which PouchDB Server
# answers with JSON (the replicator gives up), and sends one that way, which
# the gateway refuses where PouchDB Server is behind it (it would crash on it):
# every photo is a write failure.
upstream_couchdb3 = pytest.mark.skipif(
    not COUCHDB_URL, reason="CouchDB 3's replicator moves photos as multipart, which PouchDB "
                            "Server neither sends nor takes: needs SOTAY_TEST_COUCHDB_URL")


@pytest.fixture
def database_url(postgres_url) -> str:
    """PostgreSQL, as in production (the web server is a process of its own)."""
    return postgres_url.replace("postgresql://", "postgresql+psycopg://")


@contextmanager
def replicator_node() -> Iterator[tuple[CouchServer, str | None]]:
    """A CouchDB 3 node to run `_replicate` on, and its log file where we own it."""
    if (COUCHDB3_RELEASE / "start-couchdb").exists():
        with couchdb3_node("replicator") as node:
            # No random wait of up to 5 s before each replication job starts.
            requests.put(f"{node.base}/_node/_local/_config/replicator/startup_jitter",
                         json="0", auth=(node.admin, node.password), timeout=30)
            yield node, str(ROOT / ".cache" / "couchdb3" / "replicator" / "couchdb.log")
    elif COUCHDB_URL:
        yield couchdb3_server(COUCHDB_URL), None
    else:
        pytest.skip(f"no CouchDB 3 to replicate with: no release at {COUCHDB3_RELEASE} "
                    "and SOTAY_TEST_COUCHDB_URL unset")


@pytest.fixture(scope="module")
def replicator() -> Iterator[tuple[CouchServer, str | None]]:
    with replicator_node() as node:
        yield node


@pytest.fixture
def stack(app, couch_server, database_url, tmp_path):
    """nginx -> sotay serve -> the suite's CouchDB-API server; yields the proxy."""
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (scripts/system-deps installs Debian's nginx)")
    with sotay_serve(couch_server, database_url, tmp_path, app.config["SECRET_KEY"]) as port, \
            nginx_in_front(port) as proxy:
        yield proxy


def retries_logged(log: str | None, url: str) -> list[str]:
    """The replicator's "Retrying ... request to URL" lines so far."""
    if log is None:
        return []
    with open(log, encoding="utf-8", errors="replace") as lines:
        return [line for line in lines if "Retrying" in line and url in line]


def local_db(node: CouchServer, name: str) -> str:
    return f"{node.url}/{name}"


def admin_get(server: CouchServer, path: str) -> dict:
    reply = requests.get(f"{server.base}/{path}", auth=(server.admin, server.password),
                         timeout=60)
    assert reply.status_code == 200, (path, reply.text[:500])
    return reply.json()


def admin_post(server: CouchServer, path: str, body: dict) -> dict:
    reply = requests.post(f"{server.base}/{path}", json=body,
                          auth=(server.admin, server.password), timeout=120)
    assert reply.status_code in (200, 201), (path, reply.text[:500])
    return reply.json()


def revisions(server: CouchServer, db: str) -> dict[str, str]:
    """Document id -> winning revision, design and local documents aside."""
    rows = admin_get(server, f"{db}/_all_docs")["rows"]
    return {row["id"]: row["value"]["rev"] for row in rows if not row["id"].startswith("_")}


def photo_digests(server: CouchServer, db: str) -> dict[str, str]:
    rows = admin_get(server, f"{db}/_all_docs?include_docs=true")["rows"]
    return {row["id"]: row["doc"]["_attachments"]["photo.jpg"]["digest"] for row in rows
            if "_attachments" in row.get("doc", {})}


def checkpoint(server: CouchServer, db: str, replication_id: str) -> dict:
    return admin_get(server, f"{db}/{replication_id}")


def the_replication_id(node: CouchServer, db: str) -> str:
    """The one replication checkpoint in `db` on the replicator's node."""
    ids = [row["id"] for row in admin_get(node, f"{db}/_local_docs")["rows"]]
    assert len(ids) == 1, ids
    return ids[0]


def assert_clean(result: dict, docs: int) -> None:
    assert result["ok"] is True, result
    history = result["history"][0]
    assert history["doc_write_failures"] == 0, history
    assert history["docs_read"] == docs, history
    assert history["docs_written"] == docs, history
    assert history["missing_found"] == docs, history


@upstream_couchdb3
def test_couchdb3_pulls_from_the_gateway_behind_nginx(stack, app, couch_server, replicator):
    node, log = replicator
    volunteer = make_account(app, "volunteer", "tdp03")
    docs = phone_docs(volunteer.username, SURVEYS, PHOTOS)
    admin_post(couch_server, f"{volunteer.couch_db}/_bulk_docs", {"docs": docs})
    cookie = log_in(stack, volunteer.username, volunteer.password)
    target = f"pull-{secrets.token_hex(4)}"
    source = through_gateway(stack.url, volunteer.couch_db, cookie)

    result, _ = replicate(node, source, local_db(node, target))

    assert_clean(result, len(docs))
    assert revisions(node, target) == revisions(couch_server, volunteer.couch_db)
    assert len(photo_digests(node, target)) == PHOTOS
    assert photo_digests(node, target) == photo_digests(couch_server, volunteer.couch_db)
    # The checkpoint is written on both sides, the source's through the gateway.
    replication_id = the_replication_id(node, target)
    for server, db in ((node, target), (couch_server, volunteer.couch_db)):
        assert checkpoint(server, db, replication_id)["session_id"] == result["session_id"]
    assert retries_logged(log, stack.url) == []
    assert_connections_reused(stack.access_log())

    # A second pull starts from the checkpoint: nothing to copy, nothing failed.
    again, _ = replicate(node, source, local_db(node, target))
    assert again["ok"] is True and again.get("no_changes") is True, again


@upstream_couchdb3
def test_couchdb3_pushes_to_the_gateway_behind_nginx(stack, app, couch_server, replicator):
    node, log = replicator
    volunteer = make_account(app, "volunteer", "tdp03")
    docs = phone_docs(volunteer.username, SURVEYS, PHOTOS)
    source = f"push-{secrets.token_hex(4)}"
    requests.put(f"{node.base}/{source}", auth=(node.admin, node.password), timeout=30)
    admin_post(node, f"{source}/_bulk_docs", {"docs": docs})
    cookie = log_in(stack, volunteer.username, volunteer.password)
    target = through_gateway(stack.url, volunteer.couch_db, cookie)

    result, _ = replicate(node, local_db(node, source), target)

    assert_clean(result, len(docs))
    assert revisions(couch_server, volunteer.couch_db) == revisions(node, source)
    assert photo_digests(couch_server, volunteer.couch_db) == photo_digests(node, source)
    replication_id = the_replication_id(node, source)
    for server, db in ((node, source), (couch_server, volunteer.couch_db)):
        assert checkpoint(server, db, replication_id)["session_id"] == result["session_id"]
    assert retries_logged(log, stack.url) == []
    assert_connections_reused(stack.access_log())


def assert_connections_reused(requests_logged: list[list[str]]) -> None:
    """None of the replicator's requests failed or was refused, and they
    shared kept-alive connections: no more than the replicator's pool holds
    (a connection closed under it is replaced by a new one)."""
    sync = [row for row in requests_logged if row[4].startswith("/sync/")]
    assert sync, requests_logged[-5:]
    assert [row for row in sync if row[2].startswith("5")] == []
    # Refused by the gateway (a 404 is a checkpoint not yet written).
    assert [row for row in sync if row[2].startswith("4") and row[2] != "404"] == []
    connections = {row[0] for row in sync}
    assert len(connections) <= REPLICATOR_CONNECTIONS, (len(sync), len(connections))
    assert len(connections) < len(sync)


def test_the_gateway_keeps_the_connection_open_after_a_chunked_reply(live_server, volunteer,
                                                                     couch_server):
    """Straight at waitress, as `sotay serve` runs it: `_changes`, `_all_docs` and a
    multipart document come from CouchDB chunked, yet leave the connection open."""
    docs = phone_docs(volunteer.username, 3, 1)
    admin_post(couch_server, f"{volunteer.couch_db}/_bulk_docs", {"docs": docs})
    photo = next(doc for doc in docs if "_attachments" in doc)
    conn, cookie = http_log_in(live_server.url, volunteer)
    sync = f"/sync/{volunteer.couch_db}"
    asks = [("GET", f"{sync}/_changes?style=all_docs", {}),
            ("GET", f"{sync}/_all_docs?include_docs=true", {}),
            ("GET", f"{sync}/{photo['_id']}?revs=true&open_revs=all&attachments=true",
             {"Accept": "multipart/mixed"}),
            ("GET", f"{sync}/_changes?style=all_docs", {})]
    first_socket = conn.sock  # the login's connection, used for every request below
    for method, path, headers in asks:
        conn.request(method, path, headers={"Cookie": cookie, **headers})
        reply = conn.getresponse()
        data = reply.read()
        assert reply.status == 200, (path, data[:300])
        assert reply.getheader("Connection") != "close", path
        assert reply.getheader("Content-Length") == str(len(data)), path
        assert conn.sock is first_socket, f"reconnected after {path}"
    conn.close()


def test_a_reply_larger_than_the_read_ahead_still_streams_whole(live_server, volunteer,
                                                                couch_server, monkeypatch):
    """Past `SMALL_REPLY` the reply goes out as it comes (chunked), complete."""
    from server.views import gateway

    monkeypatch.setattr(gateway, "SMALL_REPLY", 1000)
    docs = phone_docs(volunteer.username, 40, 0)
    admin_post(couch_server, f"{volunteer.couch_db}/_bulk_docs", {"docs": docs})
    conn, cookie = http_log_in(live_server.url, volunteer)
    conn.request("GET", f"/sync/{volunteer.couch_db}/_all_docs?include_docs=true",
                 headers={"Cookie": cookie})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    assert reply.status == 200
    assert len(data) > 1000
    if couch_server.kind == "couchdb3":  # PouchDB Server sends its length itself
        assert reply.getheader("Content-Length") is None
    ids = {row["id"] for row in json.loads(data)["rows"]}
    assert ids == {doc["_id"] for doc in docs}

