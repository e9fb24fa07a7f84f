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

from collections.abc import Iterator
from urllib.parse import parse_qs, quote, unquote, urlsplit

from flask import Blueprint, Response, jsonify, request, stream_with_context

from server import services
from server.errors import Problem, problem
from server.queries.ingest import touch_db
from server.views.session import current_user
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


class _SizedStream:
    """A request body stream that tells `requests` its length, so it is not re-chunked."""

    def __init__(self, stream, length: int) -> None:
        self._stream = stream
        self._length = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


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
    user = current_user()
    if user is None:
        raise problem("login_required")
    if user.role != "volunteer" or not user.couch_db:
        raise problem("sync_forbidden")
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
    body = None
    if request.content_length:
        body = _SizedStream(request.stream, request.content_length)
    elif request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = iter(lambda: request.stream.read(CHUNK), b"")
    try:
        upstream = services.couch().forward(
            request.method, upstream_path, query, headers, body,
            auth=(user.username, user.couch_password or ""), read_timeout=READ_TIMEOUT)
    except CouchError as err:
        raise problem("couch_unavailable") from err
    if upstream.status_code < 400 and db == user.couch_db and _writes_documents(
            request.method, rest):
        touch_db(db)
    return _stream_back(upstream)


def _stream_back(upstream) -> Response:
    def chunks() -> Iterator[bytes]:
        try:
            yield from upstream.raw.stream(CHUNK, decode_content=False)
        finally:
            upstream.close()

    headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
    return Response(stream_with_context(chunks()), status=upstream.status_code, headers=headers,
                    direct_passthrough=True)
