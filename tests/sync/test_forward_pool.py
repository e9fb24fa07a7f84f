"""The gateway's connections to CouchDB (`sync.couch._ForwardPool`) where CouchDB's
HTTP server does what PouchDB Server cannot be made to do on demand: refuse an
upload before reading it, or cut a reply short. A scripted HTTP/1.1 peer plays
that part; the rest of the pool is tested through the gateway against PouchDB
Server (tests/server/test_gateway.py)."""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from sync.couch import Couch, _ForwardPool


@contextmanager
def scripted_peer(answer: Callable[[socket.socket, io.BufferedReader], None]) -> Iterator[int]:
    """A server on a free port that answers each connection with `answer`."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # the request line and headers; the body is left unread
                try:
                    answer(conn, reader)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        listener.close()
        thread.join(5)


def test_a_refusal_before_the_upload_is_read_reaches_the_phone():
    """CouchDB answers 401 to a large attachment PUT and closes without reading it:
    the phone gets the 401 (its replicator stops), not a 503 (it would retry)."""
    def refuse(conn, _reader):
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 26\r\nConnection: close\r\n\r\n"
                     b'{"error":"unauthorized"}\r\n')
        conn.shutdown(socket.SHUT_WR)
        threading.Event().wait(0.3)

    with scripted_peer(refuse) as port:
        couch = Couch(f"http://127.0.0.1:{port}", "", "")
        photo = b"\xff" * (8 << 20)  # far more than the socket buffers hold
        upstream = couch.forward("PUT", "userdb-76/photo:1/evidence.jpg", "rev=1-a",
                                 {"Content-Type": "image/jpeg",
                                  "Content-Length": str(len(photo))},
                                 io.BytesIO(photo), auth=("vol", "pw"), read_timeout=5)
        assert upstream.status_code == 401
        assert b"".join(upstream.stream(65536)) == b'{"error":"unauthorized"}\r\n'
        assert couch._forwarding._idle == []  # CouchDB closed it


def test_a_reply_cut_short_is_an_error_and_its_connection_is_dropped():
    def cut(conn, _reader):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"_id\":")

    with scripted_peer(cut) as port:
        couch = Couch(f"http://127.0.0.1:{port}", "", "")
        upstream = couch.forward("GET", "userdb-76/survey:1", "", {}, None,
                                 auth=("vol", "pw"), read_timeout=5)
        received = []
        with pytest.raises(http.client.IncompleteRead):
            for piece in upstream.stream(65536):
                received.append(piece)
        assert b"".join(received) == b'{"_id":'
        assert couch._forwarding._idle == []


@pytest.mark.parametrize(("url", "host", "port"), [
    ("http://[::1]/", "::1", 80), ("https://[2001:db8::5984]/couchdb", "2001:db8::5984", 443),
    ("http://[::1]:5984", "::1", 5984), ("http://couch.internal", "couch.internal", 80),
])
def test_the_port_is_always_given(url, host, port):
    """http.client would read an IPv6 address's last group as the port."""
    conn, reused = _ForwardPool(url, 4)._take()
    assert (conn.host, conn.port, reused) == (host, port, False)
