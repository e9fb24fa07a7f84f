"""The sync gateway: `/sync/<db>/...` forwards the CouchDB replication protocol.

The phone replicates through the server's own origin. Each request is
authorised against the session: a volunteer reaches their own database
(documents, attachments, `_local` checkpoints, `_changes`, `_revs_diff`,
`_bulk_docs`, `_bulk_get`, `_all_docs`) and reads `forms`; nothing else (no
`_all_dbs`, `_users`, `_config`, design documents, `_security`, other
databases). The request is then sent on as the volunteer's own CouchDB user,
so CouchDB's `_security` checks it a second time, and for `forms` its
`validate_doc_update` too (volunteer databases have none: PouchDB Server's
validation would drop replicated writes, see sync/provision.py).
Bodies stream both ways; neither side is held in memory whole (a reply CouchDB
sends chunked is read ahead up to `SMALL_REPLY`, so that it goes out with a
Content-Length and the client's connection stays open).

The gateway is a WSGI middleware in front of Flask, not a blueprint. A pull
is one request per photo (PouchDB fetches each attachment on its own), and
py-spy showed Flask's own work for each request (request and app contexts,
URL routing, opening and saving the cookie session, after_request) to be
half the gateway's CPU time, the forwarding the other half (bench/RESULTS.md).
Here a request costs a check of the signed cookie and
the forward: an app context is pushed only to look a volunteer up in SQL (a
session's identity is then remembered for 5 s); a write is marked for the
ingest in memory, and written to SQL by a thread of its own
(`server/write_marks.py`). Every other path goes to Flask unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import orjson
from flask import Flask, Response
from werkzeug.http import HTTP_STATUS_CODES, parse_cookie
from werkzeug.wsgi import get_content_length, get_input_stream

from server import services
from server.actions.logins import session_account
from server.errors import DATABASE_UNAVAILABLE, Problem, problem
from server.queries.ingest import is_held
from server.views.session import cookie_session, session_fresh
from server.write_marks import WriteMarks
from sync.couch import Couch, CouchError, Upstream
from sync.protocol import (
    Refused,
    TooLarge,
    check_body,
    check_query,
    endpoint_of,
    multipart_document,
)
from sync.provision import FORMS_DB

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PREFIX = "/sync/"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
READS = frozenset({"GET", "HEAD"})
# What replication needs of each `_` endpoint, per kind of database.
OWN_ENDPOINTS = {
    "_changes": READS | {"POST"}, "_all_docs": READS | {"POST"}, "_bulk_get": READS | {"POST"},
    "_revs_diff": {"POST"}, "_bulk_docs": {"POST"}, "_ensure_full_commit": {"POST"},
    "_local": READS | {"PUT", "DELETE"},
}
FORMS_ENDPOINTS = {
    "_changes": READS | {"POST"}, "_all_docs": READS | {"POST"}, "_bulk_get": READS | {"POST"},
    "_revs_diff": {"POST"}, "_local": READS,
}
# The request headers sent on, by their WSGI environ keys.
REQUEST_HEADERS = {"HTTP_ACCEPT": "Accept", "CONTENT_TYPE": "Content-Type",
                   "CONTENT_LENGTH": "Content-Length", "HTTP_IF_MATCH": "If-Match",
                   "HTTP_IF_NONE_MATCH": "If-None-Match", "HTTP_ACCEPT_ENCODING": "Accept-Encoding"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "trailers",
              "upgrade",
              "proxy-authenticate", "proxy-authorization", "set-cookie", "www-authenticate",
              "server", "location", "x-powered-by"}
# Every /sync/ answer: never sniffed, and an attachment opened in the browser is
# shown as inert data on no page (a phone may upload any content type).
SYNC_HEADERS = [("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")]
BODY_METHODS = frozenset({"POST", "PUT"})
CHUNK = 64 * 1024
# A reply CouchDB sends chunked (`_changes`, `_all_docs`, `_bulk_get`, a document
# with its attachments as multipart) is read ahead up to this size and sent with
# its Content-Length. waitress closes the connection after every reply without
# one, and CouchDB's own replicator, which reuses its connections, then fails
# its next request on it (`sel_conn_closed`) and retries it after a pause:
# hundreds of retries in a pull of 330 documents. A larger
# reply is streamed as before, and so is a longpoll's (its headers go at once,
# its body when CouchDB has news). At most SYNC_CONCURRENCY replies are read
# ahead at once (48 MiB).
SMALL_REPLY = 1024 * 1024
# Longer than a longpoll may last (sync.protocol caps it at 30 s and drops heartbeats).
READ_TIMEOUT = 60
# A phone's PouchDB pulls up to a batch of photos at once (20 in the app); a
# longpoll is for live replication, which the app does not use.
LONGPOLLS_PER_USER = 2
RETRY_AFTER_SECONDS = 2
# CouchDB's error names, which PouchDB's replicator reads to tell a refusal (stop) from
# an outage (back off and retry).
COUCH_ERROR_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden",
                     404: "not_found", 405: "method_not_allowed", 413: "too_large",
                     415: "bad_content_type"}

# A replication is hundreds of requests a minute (PouchDB fetches every photo on
# its own); looking the volunteer up in SQL for each one cost more than
# forwarding it. Who a session is stays known for a few seconds. Deactivation
# still stops sync at once: it deletes the volunteer's CouchDB user, whose
# credentials every forwarded request carries.
IDENTITY_SECONDS = 5.0
MAX_SESSIONS = 10_000  # cookies remembered at once ...
MAX_COOKIE_HEADER = 4096  # ... each at most a browser's cookie size: 40 MB at worst


@dataclass(frozen=True)
class SyncIdentity:
    username: str
    couch_db: str
    couch_password: str
    held: bool = False  # the ingest found the database breaks the server


class SyncGateway:
    """WSGI middleware: serves `/sync/...` itself and hands every other path to Flask.

    One per app; it holds that app's recent identities (by login) and write
    marks (by database), and its CouchDB client, fetched from the services once.
    """

    def __init__(self, app: Flask, flask_wsgi: WSGIApplication) -> None:
        self.app = app
        self.flask_wsgi = flask_wsgi
        self._couch: Couch | None = None
        self._takes_multipart: bool | None = None
        self._identities: dict[str, tuple[float, SyncIdentity]] = {}
        # Cookie header -> (when its signature was checked, the session it holds)
        self._sessions: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._marks = WriteMarks(app)
        self._lock = threading.Lock()
        # Requests being forwarded: per volunteer, longpolls per volunteer, in all.
        self._in_flight: dict[str, int] = {}
        self._longpolls: dict[str, int] = {}
        self._total = 0

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or path == PREFIX:
            return self.flask_wsgi(environ, start_response)
        start_response = _with_sync_headers(start_response)
        try:
            if environ["REQUEST_METHOD"] not in METHODS:
                raise problem("method_not_allowed", method=environ["REQUEST_METHOD"])
            return self.forward(environ, start_response)
        except Problem as err:
            response = couch_shaped_problem(self.app, err)
            if err.status == 401 and self.app.config["SESSION_COOKIE_NAME"] in parse_cookie(
                    environ):
                forget_session_cookie(self.app, response)  # as pages and the API do
            return response(environ, start_response)

    def forward(self, environ: WSGIEnvironment,
                start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        user = self.sync_identity(environ)
        segments, query = _raw_path(environ)
        couch_db, rest = segments[0], segments[1:]
        authorize(user.couch_db, couch_db, method, rest)
        if user.held and couch_db == user.couch_db:
            raise problem("sync_db_isolated")
        endpoint = endpoint_of(rest)
        try:
            query = check_query(endpoint, method, query)
        except Refused as err:
            raise problem("sync_bad_request", reason=err.reason, **err.detail) from None
        # The path sent on is rebuilt from the checked segments, never passed through.
        upstream_path = "/".join(quote(part, safe=":@") for part in segments)
        headers = {name: environ[key] for key, name in REQUEST_HEADERS.items()
                   if environ.get(key)}
        longpoll = "feed=longpoll" in query.split("&")
        release = self.take_slot(user.username, longpoll)
        try:
            body, chunked = self.checked_body(environ, endpoint, method, query, rest, headers)
            try:
                upstream = self.couch().forward(
                    method, upstream_path, query, headers, body,
                    auth=(user.username, user.couch_password), read_timeout=READ_TIMEOUT,
                    chunked=chunked)
            except CouchError as err:
                raise problem("couch_unavailable") from err
        except BaseException:
            release()
            raise
        # The slot is held until the WSGI server has sent the reply and closes it.
        reply = _Reply(upstream, release)
        status = upstream.status_code
        try:
            if status < 400 and couch_db == user.couch_db and _writes_documents(method, rest):
                self.mark_written(couch_db)
            headers = [(k, v) for k, v in upstream.headers.items()
                       if k.lower() not in HOP_BY_HOP]
            if (not longpoll and not upstream.bodiless
                    and upstream.headers.get("Content-Length") is None):
                length = reply.prefetch(SMALL_REPLY)
                if length is not None:
                    headers.append(("Content-Length", str(length)))
            start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}",
                           headers)
        except (OSError, http.client.HTTPException) as err:  # CouchDB cut the reply short
            reply.close()
            raise problem("couch_unavailable") from err
        except BaseException:
            reply.close()
            raise
        if upstream.bodiless:
            reply.close()
            return ()
        return reply

    def checked_body(self, environ: WSGIEnvironment, endpoint: str, method: str, query: str,
                     rest: list[str], headers: dict[str, str]) -> tuple[Any, bool]:
        """The body to send on, checked: None for reads and deletes; an attachment's
        bytes streamed when its length is declared; any other body read whole (at
        most `SYNC_MAX_BODY_BYTES`), parsed and checked field by field."""
        if method not in BODY_METHODS:
            headers.pop("Content-Length", None)
            headers.pop("Content-Type", None)
            return None, False
        config = self.app.config
        if endpoint == "attachment":
            limit = config["PHOTO_MAX_BYTES"]
            declared = get_content_length(environ)
            if declared is not None and declared > limit:
                raise problem("sync_too_large", limit=limit)
            if declared is not None:
                return get_input_stream(environ), False
            return _read_bounded(environ, limit, headers), False
        content_type = environ.get("CONTENT_TYPE", "")
        kind = content_type.split(";")[0].strip().lower()
        multipart = (kind == "multipart/related" and endpoint == "doc" and method == "PUT"
                     and self.takes_multipart())
        if kind not in ("", "application/json") and not multipart:
            raise problem("sync_unsupported_body", content_type=kind[:100])
        data = _read_bounded(environ, config["SYNC_MAX_BODY_BYTES"], headers)
        try:
            parsed = (multipart_document(data, content_type) if multipart
                      else _json_body(data) if data else None)
            check_body(endpoint, method, parsed, config["PHOTO_MAX_BYTES"], _query_args(query),
                       url_id="/".join(rest) if endpoint in ("doc", "_local") else None,
                       multipart=multipart)
        except (ValueError, RecursionError):  # not JSON, or nested past any reader's limit
            raise problem("sync_bad_request", reason="the body is not JSON") from None
        except TooLarge as err:
            raise problem("sync_too_large", **err.detail) from None
        except Refused as err:
            raise problem("sync_bad_request", reason=err.reason, **err.detail) from None
        return data, False

    def take_slot(self, username: str, longpoll: bool) -> Callable[[], None]:
        """Take one of the volunteer's sync slots (and a longpoll's) for a request,
        or refuse with 503 beyond the limits, so that no one phone, nor all phones
        together, can hold every web server thread. Returns the slot's release,
        which may be called more than once."""
        config = self.app.config
        with self._lock:
            mine = self._in_flight.get(username, 0)
            polls = self._longpolls.get(username, 0)
            if (mine >= config["SYNC_USER_CONCURRENCY"]
                    or self._total >= config["SYNC_CONCURRENCY"]
                    or (longpoll and polls >= LONGPOLLS_PER_USER)):
                raise problem("sync_busy", retry_after_seconds=RETRY_AFTER_SECONDS)
            self._in_flight[username] = mine + 1
            self._total += 1
            if longpoll:
                self._longpolls[username] = polls + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._total -= 1
                _decrement(self._in_flight, username)
                if longpoll:
                    _decrement(self._longpolls, username)
        return release

    def takes_multipart(self) -> bool:
        """Whether the CouchDB-API server takes multipart/related documents (the way
        CouchDB's own replicator sends attachments). Apache CouchDB does; PouchDB
        Server reads every part as JSON and dies on the first attachment."""
        if self._takes_multipart is None:
            try:
                info = self.couch().server_info()
            except CouchError as err:
                raise problem("couch_unavailable") from err
            self._takes_multipart = "express-pouchdb" not in info
        return self._takes_multipart

    def couch(self) -> Couch:
        if self._couch is None:
            with self.app.app_context():
                self._couch = services.couch()
        return self._couch

    def session(self, environ: WSGIEnvironment) -> Mapping[str, Any]:
        """The session of the request's cookie. A phone's replication sends the
        same cookie hundreds of times a minute, and checking its signature was
        a fifth of the gateway's own CPU: a cookie checked in the last
        `IDENTITY_SECONDS` is not checked again. Its lifetime still counts
        (`session_fresh` reads the login time on every request)."""
        header = environ.get("HTTP_COOKIE", "")
        now = time.monotonic()
        known = self._sessions.get(header)
        if known is not None and now - known[0] < IDENTITY_SECONDS:
            return known[1]
        data = MappingProxyType(cookie_session(self.app, environ))
        # Only what a browser sends (a few hundred bytes) is remembered: the header
        # is the client's, and waitress takes headers of 256 kB; nor a session
        # naming no one (e.g. a reviewer's, refused next anyway).
        if isinstance(data.get("uid"), int) and len(header) <= MAX_COOKIE_HEADER:
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions.clear()  # thousands of phones within seconds: start again
            self._sessions[header] = (now, data)
        return data

    def sync_identity(self, environ: WSGIEnvironment) -> SyncIdentity:
        """The volunteer this request replicates for, or a Problem.

        A login ended (logging out) or an account locked is refused within
        `IDENTITY_SECONDS`: the identity is remembered per login for that long."""
        data = self.session(environ)
        uid, sid = data.get("uid"), data.get("sid")
        if not isinstance(uid, int) or not isinstance(sid, str) or not session_fresh(
                data, self.app):
            raise problem("login_required")
        now = time.monotonic()
        cached = self._identities.get(sid)
        if cached is not None and now - cached[0] < IDENTITY_SECONDS:
            return cached[1]
        with self.app.app_context():
            try:
                user = session_account(uid, sid)
            except DATABASE_UNAVAILABLE as err:
                # A CouchDB-shaped 503: PouchDB retries it rather than giving up.
                raise problem("database_unavailable") from err
            if user is None:
                raise problem("login_required")
            if user.role != "volunteer" or not user.couch_db:
                raise problem("sync_forbidden")
            identity = SyncIdentity(user.username, user.couch_db, user.couch_password or "",
                                    is_held(user.couch_db))
        with self._lock:
            if len(self._identities) >= MAX_SESSIONS:
                self._identities.clear()
            self._identities[sid] = (now, identity)
        return identity

    def mark_written(self, couch_db: str) -> None:
        """Tell the ingest that `couch_db` has new documents (in SQL, by a thread of
        its own: the phone's write is in CouchDB and does not wait for the mark)."""
        self._marks.note(couch_db)


class _Reply:
    """CouchDB's reply body as the WSGI server sends it on; closing gives the
    connection back to the pool, even when the body was never read."""

    def __init__(self, upstream: Upstream, release: Callable[[], None]) -> None:
        self._upstream = upstream
        self._release = release
        self._body = upstream.stream(CHUNK)
        self._head: list[bytes] = []

    def prefetch(self, limit: int) -> int | None:
        """Read the body ahead, up to `limit` bytes: its length if it ended within
        them (the connection to CouchDB is back in the pool), else None (what was
        read goes first, the rest is streamed)."""
        size = 0
        for piece in self._body:
            self._head.append(piece)
            size += len(piece)
            if size > limit:
                return None
        return size

    def __iter__(self) -> Iterator[bytes]:
        head, self._head = self._head, []
        yield from head
        yield from self._body

    def close(self) -> None:
        try:
            self._upstream.close()
        finally:
            self._release()


def couch_shaped_problem(app: Flask, err: Problem) -> Response:
    """Our error body, plus the string `name` and `reason` a CouchDB client reads.

    PouchDB takes a failed reply's `error` as the error's name when there is no
    `name`; our `error` is an object, on which PouchDB's replicator throws a
    TypeError instead of reporting the refusal (or, for 503, retrying).
    """
    response = app.json.response(error=err.as_dict(),
                                 name=COUCH_ERROR_NAMES.get(err.status, "unavailable"),
                                 reason=f"{err.en} / {err.vi}")
    response.status_code = err.status
    if err.status == 405:
        response.headers["Allow"] = ", ".join(sorted(METHODS))
    if "retry_after_seconds" in err.detail:
        response.headers["Retry-After"] = str(err.detail["retry_after_seconds"])
    return response


def forget_session_cookie(app: Flask, response: Response) -> None:
    """Expire the session cookie the way Flask's session interface does."""
    interface = app.session_interface
    response.delete_cookie(app.config["SESSION_COOKIE_NAME"],
                           domain=interface.get_cookie_domain(app),
                           path=interface.get_cookie_path(app),
                           secure=interface.get_cookie_secure(app),
                           httponly=interface.get_cookie_httponly(app),
                           samesite=interface.get_cookie_samesite(app))


def _raw_path(environ: WSGIEnvironment) -> tuple[list[str], str]:
    """The path after `/sync/` as decoded segments, and the raw query.

    Segments are split on the client's own slashes before decoding, so an
    encoded slash stays inside its document id or attachment name. waitress
    gives the raw request line as REQUEST_URI, gunicorn as RAW_URI; without
    either the encoding is lost, so the request is refused.
    """
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        raise problem("invalid_input", reason="raw request path unavailable")
    path, _, query = raw.partition("?")
    path = urlsplit(path).path if "://" in path else path
    prefix = environ.get("SCRIPT_NAME", "").rstrip("/") + PREFIX
    if not path.startswith(prefix):
        raise problem("sync_forbidden")
    segments = [unquote(part) for part in path[len(prefix):].split("/")]
    if any(part in (".", "..") or "\x00" in part for part in segments) or "" in segments[:-1]:
        # requests (and many proxies) resolve dot segments before sending: a
        # `_local/../../_config` would leave the database altogether. CouchDB
        # drops empty segments, so `<db>//_security` would reach `_security`
        # past `authorize`, which saw an empty first segment (the database).
        raise problem("sync_forbidden", path=path)
    return segments, query


def _query_args(query: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}


def _json_body(data: bytes) -> Any:
    """A JSON body, parsed. orjson refuses a lone surrogate (`"\\ud800"`), which a
    phone's JavaScript can write and the ingest turns into a field error the
    volunteer can correct: the standard library's reader takes it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        if "surrogate" not in str(err):
            raise  # not JSON, or nested past orjson's limit: the standard reader would recurse
        return json.loads(data)


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def _read_bounded(environ: WSGIEnvironment, limit: int, headers: dict[str, str]) -> bytes:
    """The whole request body, refused with 413 past `limit` bytes; `headers` get
    its length (a chunked body is sent on with one)."""
    declared = get_content_length(environ)
    if declared is not None and declared > limit:
        raise problem("sync_too_large", limit=limit)
    body, chunked = _request_body(environ)
    if body is None:
        data = b""
    elif chunked:
        pieces, size = [], 0
        for piece in body:
            size += len(piece)
            if size > limit:
                raise problem("sync_too_large", limit=limit)
            pieces.append(piece)
        data = b"".join(pieces)
    else:
        data = body.read(limit + 1)
    if len(data) > limit:
        raise problem("sync_too_large", limit=limit)
    headers["Content-Length"] = str(len(data))
    return data


def _request_body(environ: WSGIEnvironment) -> tuple[Any, bool]:
    """What to send on: the input stream (its Content-Length goes with it), its
    chunks (with `True`, to be sent chunked), or None."""
    stream = get_input_stream(environ)
    if get_content_length(environ):
        return stream, False
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return iter(lambda: stream.read(CHUNK), b""), True
    return None, False


def authorize(own_db: str | None, db: str, method: str, rest: list[str]) -> None:
    """Raise a Problem unless this request is part of replicating `db`.

    `rest` is the decoded path after the database name, one item per segment.
    """
    if db not in (own_db, FORMS_DB):
        raise problem("sync_forbidden", db=db)
    forms = db == FORMS_DB
    first = rest[0] if rest else ""
    if first == "":
        allowed = method in READS
    elif not first.startswith("_"):
        # Feedback documents are the server's; the phone only reads them.
        writable = not forms and not first.startswith("feedback:")
        allowed = method in READS or (writable and method in ("PUT", "DELETE"))
    else:
        allowed = method in (FORMS_ENDPOINTS if forms else OWN_ENDPOINTS).get(first, ())
    if not allowed:
        raise problem("forms_read_only" if forms else "sync_forbidden", db=db,
                      path="/".join(rest))


def _writes_documents(method: str, rest: list[str]) -> bool:
    """Whether a request changes documents the ingest must read (not checkpoints)."""
    first = rest[0] if rest else ""
    if method == "POST":
        return first == "_bulk_docs"
    return method in ("PUT", "DELETE") and first != "_local"


def _with_sync_headers(start_response: StartResponse) -> StartResponse:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, *SYNC_HEADERS], exc_info)
    return start
