"""The sync gateway forwards replication for one's own database and refuses the rest."""

from __future__ import annotations

import io
import json
import select
import socket
import time
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

from server import services
from tests.conftest import PG_ADMIN_URL, body, http_log_in, log_in, make_account, pouchdb_only
from tests.server.helpers import household_answers, survey_doc


def test_volunteer_writes_and_reads_own_database(client, volunteer):
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    reply = client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc)
    assert reply.status_code == 201, reply.data
    back = body(client.get(f"/sync/{volunteer.couch_db}/{doc['_id']}"))
    assert back["answers"]["residential_group"] == "tdp03"
    changes = body(client.get(f"/sync/{volunteer.couch_db}/_changes?since=0"))
    assert doc["_id"] in [c["id"] for c in changes["results"]]


def test_doc_id_with_encoded_slash_stays_one_document(client, volunteer):
    log_in(client, volunteer)
    reply = client.put(f"/sync/{volunteer.couch_db}/survey%3Aa%2Fb",
                       json={"type": "survey", "status": "draft"})
    assert reply.status_code == 201, reply.data
    assert body(reply)["id"] == "survey:a/b"


def test_forms_are_readable_and_read_only(client, volunteer):
    log_in(client, volunteer)
    listing = body(client.get("/sync/forms/_all_docs"))
    ids = [row["id"] for row in listing["rows"]]
    assert "form:household:2026.1" in ids
    refused = client.put("/sync/forms/form:evil:1", json={"type": "form"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "403.3"
    assert client.post("/sync/forms/_bulk_docs", json={"docs": []}).status_code == 403


@pytest.mark.parametrize("path", ["_all_dbs", "_users", "_config", "_session", "_replicator",
                                  "_users/_all_docs", "_config/admins"])
def test_system_endpoints_are_refused(client, volunteer, path):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{path}")
    assert reply.status_code == 403
    assert reply.get_json()["error"]["code"] == "403.2"


def test_other_volunteers_database_is_refused(app, client, volunteer):
    other = make_account(app, "volunteer", "tdp05")
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), status="draft")
    assert client.get(f"/sync/{other.couch_db}/").status_code == 403
    assert client.get(f"/sync/{other.couch_db}/_changes").status_code == 403
    assert client.put(f"/sync/{other.couch_db}/{doc['_id']}", json=doc).status_code == 403
    assert client.post(f"/sync/{other.couch_db}/_bulk_docs",
                       json={"docs": [doc]}).status_code == 403


@pytest.mark.parametrize("method,path", [
    ("GET", "_design/sotay"), ("PUT", "_design/evil"), ("GET", "_security"),
    ("PUT", "_security"), ("DELETE", ""), ("PUT", ""), ("POST", "_compact"),
])
def test_own_database_admin_paths_are_refused(client, volunteer, method, path):
    log_in(client, volunteer)
    reply = client.open(f"/sync/{volunteer.couch_db}/{path}", method=method, json={})
    assert reply.status_code == 403


def test_design_doc_through_bulk_docs_is_refused_by_couchdb(app, client, volunteer):
    log_in(client, volunteer)
    client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                json={"docs": [{"_id": "_design/evil", "views": {}}]})
    with app.app_context():
        assert services.couch().get_design(volunteer.couch_db, "evil") is None


def test_feedback_documents_cannot_be_forged_by_the_phone(client, volunteer):
    log_in(client, volunteer)
    reply = client.put(f"/sync/{volunteer.couch_db}/feedback:survey:x",
                       json={"type": "feedback", "decision": "approved"})
    assert reply.status_code == 403


def test_not_logged_in_gets_401_json(client, volunteer):
    reply = client.get(f"/sync/{volunteer.couch_db}/")
    assert reply.status_code == 401
    assert reply.get_json()["error"]["code"] == "401.2"


def test_reviewer_cannot_use_the_gateway(client, reviewer):
    log_in(client, reviewer)
    assert client.get("/sync/forms/").status_code == 403


def test_deactivated_volunteer_stops_syncing(app, client, volunteer):
    from server.actions.auth import CLI_ACTOR
    from server.actions.users import deactivate_user
    from server.models import db

    log_in(client, volunteer)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    with app.app_context():
        deactivate_user(CLI_ACTOR, volunteer.username)
        db.session.commit()
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 401


# The gateway answers before Flask's request machinery (server/views/gateway.py):
# what Flask gave it for free is checked here.

def assert_couch_shaped(reply, status: int, code: str, name: str) -> None:
    assert reply.status_code == status, reply.data
    assert reply.mimetype == "application/json"
    answer = reply.get_json()
    assert answer["error"]["code"] == code
    assert answer["name"] == name
    assert answer["reason"] == f"{answer['error']['en']} / {answer['error']['vi']}"


def session_cookie(client, app) -> str:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def test_refusals_are_couch_shaped(client, volunteer):
    assert_couch_shaped(client.get(f"/sync/{volunteer.couch_db}/"), 401, "401.2", "unauthorized")
    log_in(client, volunteer)
    assert_couch_shaped(client.get("/sync/_all_dbs"), 403, "403.2", "forbidden")
    assert_couch_shaped(client.put("/sync/forms/form:x:1", json={}), 403, "403.3", "forbidden")


def test_expired_session_gets_401(app, client, volunteer):
    log_in(client, volunteer)
    with client.session_transaction() as session:
        session["at"] -= app.permanent_session_lifetime.total_seconds() + 1
    assert_couch_shaped(client.get(f"/sync/{volunteer.couch_db}/"), 401, "401.2",
                        "unauthorized")
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None, "cookie kept"


def test_a_cookie_is_checked_once_for_a_burst_of_requests(app, client, volunteer, monkeypatch):
    """A replication sends the same cookie hundreds of times: its signature is
    checked once in a few seconds, its lifetime on every request."""
    from server.views import gateway

    checked = []
    real = gateway.cookie_session
    monkeypatch.setattr(gateway, "cookie_session", lambda *args: checked.append(1) or real(*args))
    log_in(client, volunteer)
    for _ in range(5):
        assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    assert len(checked) == 1
    later = time.time() + app.permanent_session_lifetime.total_seconds() + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 401
    assert len(checked) == 1  # refused on the session remembered: it is too old


def test_long_cookie_headers_are_not_remembered(app, client, volunteer):
    """The Cookie header is the client's: one padded with other cookies (waitress
    takes 256 kB) must not fill the server's memory (found by a review helper)."""
    from server.views import gateway

    log_in(client, volunteer)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    for number in range(5):
        client.set_cookie(f"pad{number}", "y" * 2000)
        assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    remembered = app.wsgi_app._sessions
    assert remembered and all(len(header) <= gateway.MAX_COOKIE_HEADER for header in remembered)
    assert len(remembered) == 2  # the two headers short enough, of 6 sent


def test_a_401_without_a_cookie_sets_none(client, volunteer):
    reply = client.get(f"/sync/{volunteer.couch_db}/")
    assert_couch_shaped(reply, 401, "401.2", "unauthorized")
    assert "Set-Cookie" not in reply.headers


def test_tampered_cookie_gets_401(app, client, volunteer):
    log_in(client, volunteer)
    value = session_cookie(client, app)
    payload, signature = value.rsplit(".", 1)
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], forged)
    assert_couch_shaped(client.get(f"/sync/{volunteer.couch_db}/"), 401, "401.2",
                        "unauthorized")
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None, "cookie kept"


def test_cookie_signed_with_another_key_gets_401(app, client, volunteer):
    from itsdangerous import URLSafeTimedSerializer

    log_in(client, volunteer)
    with client.session_transaction() as session:
        data = dict(session)
    interface = app.session_interface
    forged = URLSafeTimedSerializer(
        "not-the-key", salt=interface.salt, serializer=interface.serializer,
        signer_kwargs={"key_derivation": interface.key_derivation,
                       "digest_method": interface.digest_method}).dumps(data)
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], forged)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 401


def test_other_methods_get_405(client, volunteer):
    log_in(client, volunteer)
    for method in ("PATCH", "OPTIONS", "COPY"):
        reply = client.open(f"/sync/{volunteer.couch_db}/x", method=method)
        assert_couch_shaped(reply, 405, "405.1", "method_not_allowed")
        assert reply.headers["Allow"] == "DELETE, GET, HEAD, POST, PUT"


def test_head_answers_headers_only(client, volunteer):
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc)
    for _ in range(3):  # each reply gives its pooled connection back
        reply = client.head(f"/sync/{volunteer.couch_db}/{doc['_id']}")
        assert reply.status_code == 200
        assert reply.data == b""
        assert reply.headers["ETag"]


def forwarding_pool(app):
    """The gateway's pool of kept-alive connections to CouchDB."""
    return app.wsgi_app.couch()._forwarding


def test_forwarded_requests_reuse_one_kept_alive_connection(app, client, volunteer):
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    assert client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc).status_code == 201
    pool = forwarding_pool(app)
    (conn,) = pool._idle
    for _ in range(3):  # a sized reply, a reply without a body, a chunked one
        assert body(client.get(f"/sync/{volunteer.couch_db}/{doc['_id']}"))["_id"] == doc["_id"]
        assert client.head(f"/sync/{volunteer.couch_db}/{doc['_id']}").status_code == 200
        assert body(client.get(f"/sync/{volunteer.couch_db}/_changes?since=0"))["results"]
    assert pool._idle == [conn]


@pouchdb_only  # Node closes idle kept-alive connections after 5 s; CouchDB 3 keeps them
def test_a_connection_couchdb_closed_while_idle_is_replaced(app, client, volunteer):
    log_in(client, volunteer)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    pool = forwarding_pool(app)
    (conn,) = pool._idle
    waiting = select.poll()
    waiting.register(conn.sock, select.POLLIN)
    assert waiting.poll(15_000), "Node closes kept-alive connections idle for 5 s"
    # A write, which is never resent: only seeing the close beforehand saves it.
    doc = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    assert client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc).status_code == 201
    (fresh,) = pool._idle
    assert fresh is not conn and conn.sock is None


def test_a_read_is_resent_when_its_kept_alive_connection_breaks(app, client, volunteer,
                                                               monkeypatch):
    """CouchDB closes the connection in the instant after the pool found it open: a
    GET goes again on a new connection; a write is not resent, it fails with a 503
    that the phone's replicator retries."""
    from sync import couch as couch_module

    log_in(client, volunteer)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    pool = forwarding_pool(app)
    monkeypatch.setattr(couch_module, "_closed_by_peer", lambda sock: False)
    (broken,) = pool._idle
    broken.sock.shutdown(socket.SHUT_WR)
    assert body(client.get(f"/sync/{volunteer.couch_db}/"))["db_name"] == volunteer.couch_db
    (fresh,) = pool._idle
    assert fresh is not broken
    fresh.sock.shutdown(socket.SHUT_WR)
    doc = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    reply = client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc)
    assert_couch_shaped(reply, 503, "503.1", "unavailable")
    assert client.get(f"/sync/{volunteer.couch_db}/{doc['_id']}").status_code == 404


def test_reply_headers_are_filtered(client, volunteer):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/")
    assert reply.status_code == 200
    assert "Set-Cookie" not in reply.headers
    assert "Server" not in reply.headers


def test_couch_outage_is_503(client, volunteer, monkeypatch):
    from sync.couch import Couch, CouchError

    def unreachable(*_args, **_kwargs):
        raise CouchError(None, "connection refused")

    log_in(client, volunteer)
    monkeypatch.setattr(Couch, "forward", unreachable)
    assert_couch_shaped(client.get(f"/sync/{volunteer.couch_db}/"), 503, "503.1", "unavailable")


def test_script_name_is_honoured(client, volunteer):
    """Mounted under /sotay: the raw request line carries the mount point too."""
    log_in(client, volunteer)
    raw = f"/sotay/sync/{volunteer.couch_db}/"
    reply = client.get(f"/sync/{volunteer.couch_db}/", base_url="http://localhost/sotay",
                       environ_overrides={"REQUEST_URI": raw, "RAW_URI": raw})
    assert reply.status_code == 200, reply.data
    assert body(reply)["db_name"] == volunteer.couch_db


def test_raw_path_outside_the_gateway_is_refused(client, volunteer):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/",
                       environ_overrides={"REQUEST_URI": "/other/x", "RAW_URI": "/other/x"})
    assert_couch_shaped(reply, 403, "403.2", "forbidden")


def test_without_raw_path_the_request_is_refused(client, volunteer):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/",
                       environ_overrides={"REQUEST_URI": "", "RAW_URI": ""})
    assert_couch_shaped(reply, 400, "400.1", "bad_request")


def test_other_paths_are_still_flask(client, volunteer):
    assert client.get("/sync/").get_json()["error"]["code"] == "404.1"
    assert client.get("/sync").status_code == 404
    log_in(client, volunteer)
    assert client.get("/api/session").status_code == 200
    assert "Set-Cookie" in client.get("/api/session").headers  # Flask's session, as before


def bulk_of_surveys(volunteer, n: int = 3) -> tuple[list[dict], bytes]:
    docs = [survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
            for _ in range(n)]
    return docs, json.dumps({"docs": docs}).encode()


def test_chunked_post_over_http(live_server, volunteer):
    """A phone's chunked upload through waitress (which joins the chunks and
    gives the body a Content-Length)."""
    conn, cookie = http_log_in(live_server.url, volunteer)
    docs, payload = bulk_of_surveys(volunteer)
    pieces = [payload[i:i + 1000] for i in range(0, len(payload), 1000)]
    conn.request("POST", f"/sync/{volunteer.couch_db}/_bulk_docs", body=iter(pieces),
                 headers={"Cookie": cookie, "Content-Type": "application/json",
                          "Accept": "application/json"}, encode_chunked=True)
    reply = conn.getresponse()
    written = json.loads(reply.read())
    assert reply.status == 201, written
    assert sorted(row["id"] for row in written) == sorted(doc["_id"] for doc in docs)
    conn.request("GET", f"/sync/{volunteer.couch_db}/{docs[0]['_id']}",
                 headers={"Cookie": cookie})
    back = conn.getresponse()
    assert back.status == 200
    assert json.loads(back.read())["_id"] == docs[0]["_id"]
    conn.close()


def test_chunked_body_is_sent_on_chunked(client, volunteer):
    """gunicorn passes a chunked body on as it arrives, without a Content-Length."""
    log_in(client, volunteer)
    docs, payload = bulk_of_surveys(volunteer)
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                        headers={"Content-Type": "application/json"},
                        environ_overrides={"wsgi.input": io.BytesIO(payload),
                                           "wsgi.input_terminated": True, "CONTENT_LENGTH": "",
                                           "HTTP_TRANSFER_ENCODING": "chunked"})
    assert reply.status_code == 201, reply.data
    assert sorted(row["id"] for row in body(reply)) == sorted(doc["_id"] for doc in docs)


@contextmanager
def postgres_outage(database_url: str):
    """The app's PostgreSQL database refuses connections and drops the open ones."""
    name = make_url(database_url).database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    try:
        yield
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_database_outage_is_a_couch_shaped_503(app, client, volunteer, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is made on PostgreSQL")
    log_in(client, volunteer)
    with postgres_outage(database_url):
        # PouchDB retries a 503 with a string `name`; it gives up on a bare 500.
        assert_couch_shaped(client.get(f"/sync/{volunteer.couch_db}/"), 503, "503.2",
                            "unavailable")
        reply = client.get("/api/session")
        assert reply.status_code == 503, reply.data
        assert reply.get_json()["error"]["code"] == "503.2"
        assert "thử lại" in reply.get_json()["error"]["vi"]
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    assert client.get("/api/session").status_code == 200


def test_a_write_during_a_database_outage_is_kept(app, client, volunteer, database_url):
    """The write reaches CouchDB; only the ingest's hint is lost (its sweep reads the
    database anyway)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is made on PostgreSQL")
    log_in(client, volunteer)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200  # identity known
    doc = survey_doc(household_answers(), volunteer=volunteer.username)
    with postgres_outage(database_url):
        reply = client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc)
        assert reply.status_code == 201, reply.data
    with app.app_context():
        assert services.couch().get(volunteer.couch_db, doc["_id"])["_id"] == doc["_id"]
