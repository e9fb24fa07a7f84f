"""The sync gateway: `/sync/<db>/...` forwards the CouchDB replication protocol.

The phone replicates through the server's own origin. Each request is
authorised against the session: a volunteer reaches their own database
(documents, attachments, `_local` checkpoints, `_changes`, `_revs_diff`,
`_bulk_docs`, `_bulk_get`, `_all_docs`) and reads `forms`; nothing else (no
`_all_dbs`, `_users`, `_config`, design documents, `_security`, other
databases). The request is then sent on as the volunteer's own CouchDB user,
so CouchDB's `_security` and `validate_doc_update` check it a second time.
Bodies stream both ways; neither side is held in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    request,
    session,
    stream_with_context,
)

from server import services
from server.errors import Problem, problem
from server.ingest_store import MARK_OVERLAP
from server.queries.ingest import touch_db
from server.views.session import current_user, session_fresh
from sync.couch import CouchError
from sync.provision import FORMS_DB

bp = Blueprint("gateway", __name__, url_prefix="/sync")

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"]
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
REQUEST_HEADERS = {"accept", "content-type", "content-length", "if-match", "if-none-match",
                   "accept-encoding"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "set-cookie", "www-authenticate",
              "server", "location"}
CHUNK = 64 * 1024
# Longer than a longpoll's own limit (60 s by default); heartbeats keep a live one going.
READ_TIMEOUT = 120
# CouchDB's error names, which PouchDB's replicator reads to tell a refusal (stop) from
# an outage (back off and retry).
COUCH_ERROR_NAMES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}

# A replication is hundreds of requests a minute (PouchDB fetches every photo on
# its own); looking the volunteer up in SQL for each one cost more than
# forwarding it. Who a session is stays known for a few seconds. Deactivation
# still stops sync at once: it deletes the volunteer's CouchDB user, whose
# credentials every forwarded request carries.
IDENTITY_SECONDS = 5.0
# The ingest on PouchDB Server learns of new writes from marks in SQL; one mark
# per database a second is enough, since the ingest looks back MARK_OVERLAP.
MARK_SECONDS = 1.0
assert MARK_SECONDS < MARK_OVERLAP.total_seconds() / 2


@dataclass(frozen=True)
class SyncIdentity:
    username: str
    couch_db: str
    couch_password: str


class _Remembered:
    """One app's recent identities (by user id) and marks (by database)."""

    def __init__(self) -> None:
        self.identities: dict[int, tuple[float, SyncIdentity]] = {}
        self.marked: dict[str, float] = {}
        self.lock = threading.Lock()


def _remembered() -> _Remembered:
    return current_app.extensions.setdefault("sotay.gateway", _Remembered())


def sync_identity() -> SyncIdentity:
    """The volunteer this request replicates for, or a Problem."""
    uid = session.get("uid")
    now = time.monotonic()
    remembered = _remembered()
    cached = remembered.identities.get(uid) if isinstance(uid, int) else None
    if cached is not None and now - cached[0] < IDENTITY_SECONDS and session_fresh():
        return cached[1]
    user = current_user()
    if user is None:
        raise problem("login_required")
    if user.role != "volunteer" or not user.couch_db:
        raise problem("sync_forbidden")
    identity = SyncIdentity(user.username, user.couch_db, user.couch_password or "")
    with remembered.lock:
        remembered.identities[user.id] = (now, identity)
    return identity


def mark_written(couch_db: str) -> None:
    """Tell the ingest that `couch_db` has new documents, at most once a second."""
    now, marked = time.monotonic(), _remembered().marked
    if now - marked.get(couch_db, -MARK_SECONDS) < MARK_SECONDS:
        return
    marked[couch_db] = now
    touch_db(couch_db)


def _raw_path() -> tuple[list[str], str]:
    """The path after `/sync/` as decoded segments, and the raw query.

    Segments are split on the client's own slashes before decoding, so an
    encoded slash stays inside its document id or attachment name. waitress
    gives the raw request line as REQUEST_URI, gunicorn as RAW_URI; without
    either the encoding is lost, so the request is refused.
    """
    raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")
    if not raw:
        raise problem("invalid_input", reason="raw request path unavailable")
    path, _, query = raw.partition("?")
    path = urlsplit(path).path if "://" in path else path
    prefix = request.script_root + bp.url_prefix + "/"
    if not path.startswith(prefix):
        raise problem("sync_forbidden")
    segments = [unquote(part) for part in path[len(prefix):].split("/")]
    if any(part in (".", "..") or "\x00" in part for part in segments):
        # requests (and many proxies) resolve dot segments before sending: a
        # `_local/../../_config` would leave the database altogether.
        raise problem("sync_forbidden", path=path)
    return segments, query


def _query_args(query: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}


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


@bp.errorhandler(Problem)
def couch_shaped_problem(err: Problem) -> Response:
    """Our error body, plus the string `name` and `reason` a CouchDB client reads.

    PouchDB takes a failed reply's `error` as the error's name when there is no
    `name`; our `error` is an object, on which PouchDB's replicator throws a
    TypeError instead of reporting the refusal (or, for 503, retrying).
    """
    response = jsonify(error=err.as_dict(),
                       name=COUCH_ERROR_NAMES.get(err.status, "unavailable"),
                       reason=f"{err.en} / {err.vi}")
    response.status_code = err.status
    return response


@bp.route("/<path:_any>", methods=METHODS)
def forward(_any: str) -> Response:
    user = sync_identity()
    segments, query = _raw_path()
    db, rest = segments[0], segments[1:]
    authorize(user.couch_db, db, request.method, rest)
    feed = _query_args(query).get("feed", "normal")
    if rest[:1] == ["_changes"] and feed not in ("normal", "longpoll"):
        # A continuous feed would hold a web thread for as long as the phone likes.
        raise problem("sync_forbidden", feed=feed)
    # The path sent on is rebuilt from the checked segments, never passed through.
    upstream_path = "/".join(quote(part, safe=":@") for part in segments)
    headers = {k: v for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS}
    body, chunked = None, False
    if request.content_length:
        body = request.stream  # read as it is sent on; Content-Length goes with it
    elif request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body, chunked = iter(lambda: request.stream.read(CHUNK), b""), True
    try:
        upstream = services.couch().forward(
            request.method, upstream_path, query, headers, body,
            auth=(user.username, user.couch_password), read_timeout=READ_TIMEOUT,
            chunked=chunked)
    except CouchError as err:
        raise problem("couch_unavailable") from err
    if upstream.status_code < 400 and db == user.couch_db and _writes_documents(
            request.method, rest):
        mark_written(db)
    return _stream_back(upstream)


def _stream_back(upstream) -> Response:
    def chunks() -> Iterator[bytes]:
        try:
            yield from upstream.stream(CHUNK)
        finally:
            upstream.close()

    headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
    return Response(stream_with_context(chunks()), status=upstream.status_code, headers=headers,
                    direct_passthrough=True)
