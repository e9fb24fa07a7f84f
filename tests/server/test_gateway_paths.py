"""Review: dot segments in the gateway path escape the allow-list.

`authorize` looks at the first segment of the decoded path only, but the raw
path is forwarded and `requests` removes `..` segments before sending, so
`/sync/<own>/_local/../../_session` is authorised as a `_local` read and
reaches `GET /_session` on CouchDB.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import http_log_in, log_in


def test_dot_segments_reach_server_endpoints(client, volunteer):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/_local/../../_session")
    assert reply.status_code == 403, (reply.status_code, reply.data[:300])


def test_dot_segments_list_every_database(client, volunteer):
    """`_all_dbs` names every volunteer (`userdb-<hex of username>`)."""
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/_local/../../_all_dbs")
    assert reply.status_code == 403, (reply.status_code, reply.data[:300])


def test_dot_segments_read_own_couchdb_user_doc(client, volunteer):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/_local/../../_users/"
                       f"org.couchdb.user:{volunteer.username}")
    assert reply.status_code == 403, (reply.status_code, reply.data[:300])


def test_encoded_dot_segments_are_refused(client, volunteer):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/%2E%2E/_all_dbs")
    assert reply.status_code in (400, 403), (reply.status_code, reply.data[:300])


@pytest.mark.parametrize("rest", ["/_security", "/_design/sotay", "/_local//x"])
def test_empty_segments_are_refused(client, volunteer, rest):
    """CouchDB 3 drops empty path segments: `<db>//_security` is `<db>/_security`
    there, while the gateway would have checked an empty segment (the database)."""
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/{rest}")
    assert reply.status_code == 403, (reply.status_code, reply.data[:300])


def test_dot_segments_over_real_http(live_server, volunteer):
    """The same through waitress (its REQUEST_URI keeps the `..`)."""
    conn, cookie = http_log_in(live_server.url, volunteer)
    conn.request("GET", f"/sync/{volunteer.couch_db}/_local/../../_all_dbs",
                 headers={"Cookie": cookie})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    assert reply.status == 403, (reply.status, data[:300])


def test_volunteer_cannot_crash_the_sync_engine(client, volunteer):
    log_in(client, volunteer)
    client.put(f"/sync/{volunteer.couch_db}/x/../../some-new-db")
    after = client.get(f"/sync/{volunteer.couch_db}/")
    assert after.status_code == 200, (after.status_code, after.data[:200])


def test_continuous_feeds_do_not_starve_the_server(live_server, volunteer):
    session = requests.Session()
    session.post(f"{live_server.url}/api/session",
                 json={"username": volunteer.username, "password": volunteer.password})
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    host = urlsplit(live_server.url).netloc
    held = []
    for _ in range(20):
        s = socket.create_connection(tuple(host.split(":")[:1]) + (int(host.split(":")[1]),))
        s.sendall((f"GET /sync/{volunteer.couch_db}/_changes?feed=continuous&heartbeat=5000 "
                   f"HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n").encode())
        held.append(s)
    try:
        reply = requests.get(f"{live_server.url}/healthz", timeout=5)
        assert reply.status_code in (200, 503), reply.status_code
        json.loads(reply.text)
    finally:
        for s in held:
            s.close()
