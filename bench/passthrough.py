"""A bare streaming pass-through to CouchDB: the yardstick of the sync gateway's bench.

Issue 4 sets the gateway's goal against it ("a bare streaming pass-through
already reaches about 0.9 here, so authorisation must cost little"), so the
bench measures it in the same run as the gateway: the same WSGI server with
the same settings, `http.client` kept-alive connections to CouchDB (one per
server thread), bodies streamed both ways as the gateway streams them.
It checks nothing: the phone's own Authorization header goes through, and so
does every path. Never serve it to anyone; it exists to be measured.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterable, Iterator

from server.views.gateway import CHUNK, HOP_BY_HOP, _request_body

# What a WSGI server gives as CONTENT_TYPE and CONTENT_LENGTH, not as HTTP_ keys.
_CONTENT_HEADERS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def passthrough_app(host: str, port: int) -> Callable:
    """A WSGI app sending every request on to CouchDB at `host:port` as it came."""
    local = threading.local()

    def connection(fresh: bool = False) -> http.client.HTTPConnection:
        conn, reply = getattr(local, "conn", None), getattr(local, "reply", None)
        # A body the phone did not read to its end would be in the next reply's way.
        if conn is None or fresh or (reply is not None and not reply.isclosed()):
            if conn is not None:
                conn.close()
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=120)
        return conn

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_") and key != "HTTP_HOST"
                   and key[5:].replace("_", "-").lower() not in HOP_BY_HOP}
        headers.update({name: environ[key] for key, name in _CONTENT_HEADERS.items()
                        if environ.get(key)})
        # As the gateway sends it on: the stream with its Content-Length, or chunks
        # (http.client then sends them chunked itself).
        body, _ = _request_body(environ)
        method, path = environ["REQUEST_METHOD"], environ["REQUEST_URI"]
        try:
            conn = connection()
            conn.request(method, path, body=body, headers=headers)
        except (OSError, http.client.HTTPException):
            if body is not None:
                raise  # part of the body is gone: nothing to send again
            conn = connection(fresh=True)  # CouchDB closed a kept-alive connection
            conn.request(method, path, body=body, headers=headers)
        reply = local.reply = conn.getresponse()
        start_response(f"{reply.status} {reply.reason}",
                       [(name, value) for name, value in reply.getheaders()
                        if name.lower() not in HOP_BY_HOP])
        if method == "HEAD":
            reply.read()
            return ()
        return _pieces(reply)

    return app


def _pieces(reply: http.client.HTTPResponse) -> Iterator[bytes]:
    while chunk := reply.read1(CHUNK):
        yield chunk
