"""The gateway as the shield of the CouchDB-API server: what the outside trial
sent through it, sent again.

Each request here once stopped the embedded PouchDB Server (or filled it up)
when the gateway passed it on. This module runs its own PouchDB Server, so
that a regression fails these tests and leaves the rest of the suite's
server alive (against Apache CouchDB, the suite's own server serves); each
test checks the server still answers and still reads the volunteer's feed
afterwards.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import body, http_log_in, log_in, make_account, own_couch_server
from tests.server.helpers import household_answers, survey_doc


@pytest.fixture(scope="module")
def couch_server(tmp_path_factory):
    with own_couch_server(tmp_path_factory.mktemp("shield-couch")) as server:
        yield server


def assert_server_still_reads(couch_server, client, volunteer) -> None:
    """The CouchDB-API server is up and the volunteer's feed reads, now and a moment later."""
    for _ in range(2):
        assert couch_server.client().server_info()
        reply = client.get(f"/sync/{volunteer.couch_db}/_changes?style=all_docs&since=0")
        # The feed read to its end (as a WSGI server would: the test client leaves an
        # unread reply's connection to CouchDB open, never given back).
        feed = reply.data
        assert reply.status_code == 200, feed[:300]
        assert "results" in json.loads(feed)
        time.sleep(0.3)


def assert_refused(reply, status: int, code: str) -> dict:
    assert reply.status_code == status, reply.data[:500]
    answer = reply.get_json()
    assert answer["error"]["code"] == code, answer
    assert answer["reason"]  # what PouchDB shows a developer
    return answer


def test_broken_revision_tree_is_refused(couch_server, client, volunteer):
    """The trial's request: answered 201, and every later read of the feed killed the server."""
    log_in(client, volunteer)
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs", json={
        "new_edits": False,
        "docs": [{"_id": "survey:x", "_rev": "1-a", "_revisions": {"start": "x", "ids": 5}}]})
    answer = assert_refused(reply, 400, "400.2")
    assert "_revisions" in answer["error"]["detail"]["reason"]
    assert_server_still_reads(couch_server, client, volunteer)
    assert "survey:x" not in [row["id"] for row in body(
        client.get(f"/sync/{volunteer.couch_db}/_changes?since=0"))["results"]]


GOOD = {"_id": "survey:good", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]},
        "type": "survey"}


@pytest.mark.parametrize("change", [
    {"_revisions": {"start": 1, "ids": ["a", "b"]}},  # more ids than the tree's depth
    {"_revisions": {"start": 2, "ids": ["c", "a"]}},  # _rev disagrees with its history
    {"_revisions": {"start": True, "ids": ["b"]}},
    {"_revisions": {"start": 2, "ids": ["b", 7]}},
    {"_revisions": {"start": 2, "ids": ["b"], "extra": 1}},
    {"_rev": "x"},
    {"_rev": None},
    {"_deleted": "yes"},
    {"_conflicts": ["1-a"]},
    {"_id": "_design/evil"},
    {"_id": "_local/evil"},
    {"_id": ""},
    {"_attachments": {"a.jpg": {"content_type": "image/jpeg", "data": "!!not base64!!"}}},
    {"_attachments": {"a.jpg": {"content_type": "image/jpeg", "follows": True, "length": 9}}},
    {"_attachments": {"_a": {"content_type": "image/jpeg", "data": "AAAA"}}},
    {"answers": json.loads("[" * 100 + "]" * 100)},
])
def test_malformed_replicated_documents_are_refused(couch_server, client, volunteer, change):
    log_in(client, volunteer)
    doc = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                        json={"new_edits": False, "docs": [doc]})
    assert_refused(reply, 400, "400.2")
    assert_server_still_reads(couch_server, client, volunteer)


def test_a_well_formed_replicated_document_goes_through(couch_server, client, volunteer):
    log_in(client, volunteer)
    photo = {"_id": "photo:p1", "_rev": "1-c", "_revisions": {"start": 1, "ids": ["c"]},
             "type": "photo", "survey_id": "survey:good",
             "_attachments": {"photo.jpg": {"content_type": "image/jpeg",
                                            "data": base64.b64encode(b"jpeg").decode()}}}
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                        json={"new_edits": False, "docs": [GOOD, photo]})
    assert reply.status_code == 201, reply.data
    ids = [row["id"] for row in body(
        client.get(f"/sync/{volunteer.couch_db}/_changes?since=0"))["results"]]
    assert {"survey:good", "photo:p1"} <= set(ids)


@pytest.mark.parametrize("query", [
    "filter=nope/nope", "filter=_view&view=a/b", "filter=_selector", "filter=_design",
])
def test_changes_filters_other_than_doc_ids_are_refused(couch_server, client, volunteer,
                                                       query):
    """Seven of these, seconds apart, once stopped everything."""
    log_in(client, volunteer)
    client.put(f"/sync/{volunteer.couch_db}/survey:a", json={"type": "survey"})
    for _ in range(7):
        assert_refused(client.get(f"/sync/{volunteer.couch_db}/_changes?{query}"), 400, "400.2")
        assert_refused(client.post(f"/sync/{volunteer.couch_db}/_changes?{query}",
                                   json={"selector": {}}), 400, "400.2")
    assert_server_still_reads(couch_server, client, volunteer)


def test_doc_ids_filter_is_what_a_push_uses(couch_server, client, volunteer):
    log_in(client, volunteer)
    for doc_id in ("survey:a", "survey:b"):
        client.put(f"/sync/{volunteer.couch_db}/{doc_id}", json={"type": "survey"})
    reply = client.post(f"/sync/{volunteer.couch_db}/_changes?style=all_docs&filter=_doc_ids"
                        f"&since=0&limit=5", json={"doc_ids": ["survey:b"]})
    assert reply.status_code == 200, reply.data
    assert [row["id"] for row in body(reply)["results"]] == ["survey:b"]


@pytest.mark.parametrize("query", [
    "feed=continuous", "feed=eventsource", "since=0&since=now", "limit=-1", "limit=abc",
    "style=everything", "include_docs=yes", "view=a/b", "doc_ids=[]",
])
def test_other_changes_parameters_are_refused(client, volunteer, query):
    log_in(client, volunteer)
    assert_refused(client.get(f"/sync/{volunteer.couch_db}/_changes?{query}"), 400, "400.2")


@pytest.mark.parametrize("method,path", [
    ("GET", "survey:a?open_revs=nope"), ("GET", "?descending=true"),
    ("GET", "_all_docs?skip=99999999"), ("POST", "_bulk_get?include_docs=true"),
    ("POST", "_revs_diff?x=1"), ("POST", "_bulk_docs?new_edits=false"),
])
def test_parameters_are_checked_per_endpoint(client, volunteer, method, path):
    log_in(client, volunteer)
    reply = client.open(f"/sync/{volunteer.couch_db}/{path}", method=method, json={})
    assert_refused(reply, 400, "400.2")


def test_a_body_id_must_be_the_path_id(couch_server, client, volunteer):
    log_in(client, volunteer)
    forged = client.put(f"/sync/{volunteer.couch_db}/survey:x",
                        json={"_id": "feedback:survey:x", "type": "feedback"})
    assert_refused(forged, 400, "400.2")
    local = client.put(f"/sync/{volunteer.couch_db}/_local/checkpoint",
                       json={"_id": "feedback:survey:x", "last_seq": 1})
    assert_refused(local, 400, "400.2")
    with_id = client.put(f"/sync/{volunteer.couch_db}/survey:x",
                         json={"_id": "survey:x", "type": "survey"})
    assert with_id.status_code == 201, with_id.data
    assert client.get(f"/sync/{volunteer.couch_db}/feedback:survey:x").status_code == 404


def test_an_attachment_over_the_photo_limit_is_refused(couch_server, client, volunteer, app):
    """A 50 MB attachment was accepted (the photo limit is 15 MB)."""
    log_in(client, volunteer)
    limit = app.config["PHOTO_MAX_BYTES"]
    big = base64.b64encode(bytes(limit + 1)).decode()
    doc = {"_id": "photo:big", "type": "photo",
           "_attachments": {"photo.jpg": {"content_type": "image/jpeg", "data": big}}}
    answer = assert_refused(client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                                        json={"docs": [doc]}), 413, "413.1")
    assert answer["error"]["detail"]["limit"] == limit
    assert str(limit) in answer["error"]["en"] and str(limit) in answer["error"]["vi"]
    created = client.put(f"/sync/{volunteer.couch_db}/photo:big2", json={"type": "photo"})
    rev = body(created)["rev"]
    reply = client.put(f"/sync/{volunteer.couch_db}/photo:big2/photo.jpg?rev={rev}",
                       data=bytes(50 * 1024 * 1024), content_type="image/jpeg")
    assert_refused(reply, 413, "413.1")
    assert client.get(f"/sync/{volunteer.couch_db}/photo:big2/photo.jpg").status_code == 404


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, volunteer, app):
    """A 100 MB `_bulk_docs` was stored and the client got a reset."""
    log_in(client, volunteer)
    limit = app.config["SYNC_MAX_BODY_BYTES"]

    class Unread:
        read_bytes = 0

        def read(self, size: int = -1) -> bytes:
            self.read_bytes += max(size, 0)
            return b" " * max(size, 0)

    stream = Unread()
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                        content_type="application/json",
                        environ_overrides={"wsgi.input": stream,
                                           "CONTENT_LENGTH": str(100 * 1024 * 1024)})
    answer = assert_refused(reply, 413, "413.1")
    assert answer["error"]["detail"]["limit"] == limit
    assert stream.read_bytes == 0


def multipart(doc: dict, attachment: bytes, boundary: str = "b0undary") -> bytes:
    """A document and its attachment as CouchDB's replicator PUTs them."""
    return (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
            + json.dumps(doc).encode() + f"\r\n--{boundary}\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(attachment)}\r\n\r\n".encode() + attachment
            + f"\r\n--{boundary}--".encode())


MULTIPART = "multipart/related; boundary=\"b0undary\""
PHOTO_WITH_FOLLOWING_BYTES = {
    "_id": "photo:m", "_rev": "1-d", "_revisions": {"start": 1, "ids": ["d"]}, "type": "photo",
    "survey_id": "survey:good",
    "_attachments": {"photo.jpg": {"follows": True, "content_type": "image/jpeg", "length": 4}}}


def is_pouchdb_server(couch_server) -> bool:
    return "express-pouchdb" in couch_server.client().server_info()


def test_multipart_never_reaches_pouchdb_server(couch_server, client, volunteer):
    """PouchDB Server reads every part of a multipart body as JSON and dies on the first
    attachment: the gateway refuses multipart in front of it."""
    if not is_pouchdb_server(couch_server):
        pytest.skip("about PouchDB Server; Apache CouchDB takes multipart documents")
    log_in(client, volunteer)
    reply = client.put(f"/sync/{volunteer.couch_db}/photo:m?new_edits=false",
                       data=multipart(PHOTO_WITH_FOLLOWING_BYTES, b"jpeg"),
                       content_type=MULTIPART)
    assert_refused(reply, 415, "415.1")
    assert_server_still_reads(couch_server, client, volunteer)


def test_a_multipart_document_is_checked_like_any_other(couch_server, client, volunteer, app):
    """CouchDB's own replicator PUTs a document with attachments as multipart/related."""
    if is_pouchdb_server(couch_server):
        pytest.skip("about Apache CouchDB: PouchDB Server takes no multipart documents")
    log_in(client, volunteer)
    path = f"/sync/{volunteer.couch_db}/photo:m?new_edits=false"
    kind, doc = MULTIPART, PHOTO_WITH_FOLLOWING_BYTES
    reply = client.put(path, data=multipart(doc, b"jpeg"), content_type=kind)
    assert reply.status_code == 201, reply.data
    assert client.get(f"/sync/{volunteer.couch_db}/photo:m/photo.jpg").data == b"jpeg"
    broken = {**doc, "_revisions": {"start": "x", "ids": 5}}
    assert_refused(client.put(path, data=multipart(broken, b"jpeg"), content_type=kind), 400,
                   "400.2")
    huge = {**doc, "_attachments": {"photo.jpg": {"follows": True, "content_type": "image/jpeg",
                                                  "length": app.config["PHOTO_MAX_BYTES"] + 1}}}
    assert_refused(client.put(path, data=multipart(huge, b"jpeg"), content_type=kind), 413,
                   "413.1")
    assert_refused(client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                               data=multipart(doc, b"jpeg"), content_type=kind), 415, "415.1")
    assert_server_still_reads(couch_server, client, volunteer)


def test_longpolls_of_one_volunteer_leave_threads_for_everyone_else(live_server, app):
    """Forty longpolls with an hour's timeout held every web server thread."""
    app.config["SYNC_CONCURRENCY"] = 12  # of the test server's 16 threads
    greedy, other = make_account(app, "volunteer", "tdp03"), make_account(app, "volunteer",
                                                                          "tdp04")
    conn, cookie = http_log_in(live_server.url, greedy)
    conn.close()
    host = urlsplit(live_server.url)
    held, answers = [], []
    try:
        for _ in range(40):
            sock = socket.create_connection((host.hostname, host.port))
            sock.sendall((f"GET /sync/{greedy.couch_db}/_changes?feed=longpoll&since=now"
                          f"&timeout=3600000&heartbeat=1000 HTTP/1.1\r\nHost: {host.netloc}\r\n"
                          f"Cookie: {cookie}\r\n\r\n").encode())
            held.append(sock)
        for sock in held:
            sock.settimeout(5)
            answers.append(int(sock.recv(200).split(b" ", 2)[1]))
        # Two longpolls are let through (their headers come at once, their bodies
        # when CouchDB has news or after at most 30 s); the rest refused at once.
        assert answers.count(200) == 2, answers
        assert answers.count(503) == 38, answers
        started = time.monotonic()
        health = requests.get(f"{live_server.url}/healthz", timeout=5)
        assert health.status_code in (200, 503)
        session = requests.Session()
        session.post(f"{live_server.url}/api/session",
                     json={"username": other.username, "password": other.password}, timeout=5)
        doc = survey_doc(household_answers(), status="draft")
        put = session.put(f"{live_server.url}/sync/{other.couch_db}/{doc['_id']}", json=doc,
                          timeout=5)
        assert put.status_code == 201, put.text
        assert time.monotonic() - started < 5
    finally:
        for sock in held:
            sock.close()


def test_a_held_database_is_left_alone_until_released(app, client, volunteer):
    """A database the ingest holds (it stopped the server) is not read for the phone either."""
    from server.actions.auth import CLI_ACTOR
    from server.actions.health import release_database
    from server.ingest_store import SqlIngestStore
    from server.models import db
    from sync.ingest import STRIKES_TO_HOLD

    with app.app_context():
        store = SqlIngestStore()
        assert [store.strike(volunteer.couch_db, "CouchDB unreachable")
                for _ in range(STRIKES_TO_HOLD)][-1] is True
    log_in(client, volunteer)
    refused = client.get(f"/sync/{volunteer.couch_db}/_changes?since=0")
    answer = assert_refused(refused, 503, "503.4")
    assert "office" in answer["error"]["en"]
    forms = client.get("/sync/forms/_all_docs")
    assert forms.data and forms.status_code == 200  # read to its end: the connection goes back
    with app.app_context():
        release_database(CLI_ACTOR, volunteer.couch_db)
        db.session.commit()
    time.sleep(5.1)  # the gateway remembers who a session is for 5 s
    again = client.get(f"/sync/{volunteer.couch_db}/_changes?since=0")
    assert again.data and again.status_code == 200
