"""What a replicating client may ask of a volunteer's database, and nothing more.

The sync gateway lets a phone reach the CouchDB-API server only in the shapes
the replication protocol uses. The embedded PouchDB Server is old and dies on
input CouchDB would refuse: a `_revisions` whose `start` is not a number
stores a revision tree that kills the server on every later read of the
database's feed, and a `_changes?filter=` naming a design document (or
`_view`, `_selector`) kills it at once. So each endpoint has the query
parameters it may take, each with the values it may have, and each body
sent on is checked field by field before a byte of it goes upstream.

Pure functions on plain data: `check_query` gives the query to send on
(rebuilt from the checked parameters, never the client's own text),
`check_body` checks a parsed JSON body. Both raise `Refused`, which says
what is wrong in words a developer of a replication client can act on.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

# A longpoll holds a web thread until CouchDB answers: never longer than this.
LONGPOLL_MAX_MS = 30_000
MAX_ID_CHARS = 1_000
MAX_LIST_ITEMS = 10_000  # ids in a `_revs_diff`, `_bulk_get`, `doc_ids`, revisions in a history
MAX_DOCS_PER_WRITE = 1_000
MAX_DEPTH = 64  # a form's answers nest a few levels; JSON readers give up near a thousand
MAX_SEQ_CHARS = 2_000  # CouchDB 3's opaque seqs are a few hundred characters

REV = re.compile(r"[1-9][0-9]{0,9}-[0-9A-Za-z]{1,64}")
LOCAL_REV = re.compile(r"0-[1-9][0-9]{0,9}")
REV_HASH = re.compile(r"[0-9A-Za-z]{1,64}")
# Special members CouchDB takes in a document a client writes (others it refuses).
DOC_MEMBERS = frozenset({"_id", "_rev", "_revisions", "_deleted", "_attachments"})
STUB_MEMBERS = frozenset({"stub", "digest", "revpos", "length", "content_type", "encoding",
                          "encoded_length"})
INLINE_MEMBERS = frozenset({"data", "content_type", "digest", "revpos"})
# An attachment whose bytes follow the document in a multipart/related PUT
# (how CouchDB's own replicator sends documents with attachments).
FOLLOWS_MEMBERS = frozenset({"follows", "content_type", "length", "digest", "revpos",
                             "encoding", "encoded_length"})


class Refused(Exception):
    """The request is not one replication makes; `reason` says why, `detail` where."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# --- query parameters --------------------------------------------------------

Check = Callable[[str], str]


def _choice(*allowed: str) -> Check:
    def check(value: str) -> str:
        if value not in allowed:
            raise Refused(f"must be one of {', '.join(allowed)}")
        return value
    return check


def _integer(low: int, high: int, clamp: bool = False) -> Check:
    def check(value: str) -> str:
        if not re.fullmatch(r"[0-9]{1,12}", value):
            raise Refused("must be a whole number")
        number = int(value)
        if clamp:
            return str(min(max(number, low), high))
        if not low <= number <= high:
            raise Refused(f"must be between {low} and {high}")
        return value
    return check


def _text(max_chars: int) -> Check:
    def check(value: str) -> str:
        if len(value) > max_chars or any(ord(char) < 32 for char in value):
            raise Refused(f"must be at most {max_chars} printable characters")
        return value
    return check


def _json_value(max_chars: int) -> Check:
    """A JSON value as CouchDB reads keys and lists in a query string."""
    def check(value: str) -> str:
        if len(value) > max_chars:
            raise Refused(f"must be at most {max_chars} characters")
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as err:
            raise Refused("must be JSON") from err
        _check_depth(parsed, 8)
        return value
    return check


def _id_list(value: str) -> str:
    if value == "all":
        return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as err:
        raise Refused('must be "all" or a JSON list of revisions') from err
    _rev_list(parsed, "open_revs")
    return value


def _heartbeat(value: str) -> str:
    return value if value == "true" else _integer(0, LONGPOLL_MAX_MS)(value)


BOOLEAN = _choice("true", "false")
SEQ = _text(MAX_SEQ_CHARS)
JSON_KEY = _json_value(MAX_ID_CHARS * 2)
# PouchDB adds `_nonce` to GETs some browsers would cache.
NONCE = _text(32)

CHANGES: dict[str, Check] = {
    "style": _choice("all_docs", "main_only"), "since": SEQ, "last-event-id": SEQ,
    "limit": _integer(0, MAX_LIST_ITEMS), "feed": _choice("normal", "longpoll"),
    "timeout": _integer(0, LONGPOLL_MAX_MS, clamp=True),
    "heartbeat": _heartbeat,
    "include_docs": BOOLEAN, "attachments": BOOLEAN, "att_encoding_info": BOOLEAN,
    "conflicts": BOOLEAN, "descending": BOOLEAN, "seq_interval": _integer(1, MAX_LIST_ITEMS),
    "filter": _choice("_doc_ids"), "doc_ids": _json_value(MAX_LIST_ITEMS * 100),
    "_nonce": NONCE,
}
ALL_DOCS: dict[str, Check] = {
    "include_docs": BOOLEAN, "conflicts": BOOLEAN, "attachments": BOOLEAN,
    "att_encoding_info": BOOLEAN, "descending": BOOLEAN, "inclusive_end": BOOLEAN,
    "update_seq": BOOLEAN, "limit": _integer(0, MAX_LIST_ITEMS),
    "skip": _integer(0, MAX_LIST_ITEMS), "key": JSON_KEY, "startkey": JSON_KEY,
    "endkey": JSON_KEY, "start_key": JSON_KEY, "end_key": JSON_KEY,
    "keys": _json_value(MAX_LIST_ITEMS * 100), "_nonce": NONCE,
}
DOC_READ: dict[str, Check] = {
    "rev": _text(100), "revs": BOOLEAN, "revs_info": BOOLEAN, "open_revs": _id_list,
    "latest": BOOLEAN, "attachments": BOOLEAN, "att_encoding_info": BOOLEAN,
    "atts_since": _json_value(MAX_LIST_ITEMS * 100), "conflicts": BOOLEAN, "_nonce": NONCE,
}
# (endpoint, method) -> parameters. The endpoint is the path's first `_` segment,
# "" for the database itself, "doc" or "attachment" for documents.
QUERY_RULES: dict[tuple[str, str], dict[str, Check]] = {
    ("", "GET"): {"_nonce": NONCE},
    ("_changes", "GET"): CHANGES, ("_changes", "POST"): CHANGES,
    ("_all_docs", "GET"): ALL_DOCS, ("_all_docs", "POST"): ALL_DOCS,
    ("_bulk_get", "POST"): {"revs": BOOLEAN, "attachments": BOOLEAN, "latest": BOOLEAN,
                            "att_encoding_info": BOOLEAN},
    ("_revs_diff", "POST"): {}, ("_bulk_docs", "POST"): {}, ("_ensure_full_commit", "POST"): {},
    ("_local", "GET"): {"rev": _text(100), "_nonce": NONCE}, ("_local", "PUT"): {},
    ("_local", "DELETE"): {"rev": _text(100)},
    ("doc", "GET"): DOC_READ, ("doc", "PUT"): {"rev": _text(100), "new_edits": BOOLEAN},
    ("doc", "DELETE"): {"rev": _text(100)},
    ("attachment", "GET"): {"rev": _text(100), "_nonce": NONCE},
    ("attachment", "PUT"): {"rev": _text(100)}, ("attachment", "DELETE"): {"rev": _text(100)},
}


def endpoint_of(rest: list[str]) -> str:
    """The rule a path after the database name falls under."""
    first = rest[0] if rest else ""
    if first.startswith("_"):
        return first
    if first == "":
        return ""
    return "doc" if len(rest) == 1 else "attachment"


def check_query(endpoint: str, method: str, query: str) -> str:
    """The query to send on for this request, or `Refused`.

    HEAD is checked as GET. Each parameter may come once. A longpoll's
    `timeout` is capped at `LONGPOLL_MAX_MS` and its `heartbeat` dropped, since
    heartbeats keep a longpoll open past any timeout.
    """
    rules = QUERY_RULES.get((endpoint, "GET" if method == "HEAD" else method))
    if rules is None:
        raise Refused(f"{method} is not part of replication here")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                          errors="strict", max_num_fields=len(rules) + 1)
    except (ValueError, UnicodeDecodeError) as err:
        raise Refused("the query string cannot be read") from err
    given: dict[str, str] = {}
    for name, value in pairs:
        if name in given:
            raise Refused("a parameter is given twice", parameter=name[:100])
        check = rules.get(name)
        if check is None:
            raise Refused("this parameter is not part of replication", parameter=name[:100])
        try:
            given[name] = check(value)
        except Refused as err:
            raise Refused(f"{name} {err.reason}", parameter=name, value=value[:100]) from None
    if endpoint == "_changes":
        _limit_changes(given, method)
    return urlencode(given)


def _limit_changes(given: dict[str, str], method: str) -> None:
    if given.get("feed") == "longpoll":
        given.pop("heartbeat", None)
        given.setdefault("timeout", str(LONGPOLL_MAX_MS))
    if method == "POST" and given.get("filter") != "_doc_ids":
        raise Refused("a POST to _changes must ask for filter=_doc_ids")
    if "doc_ids" in given and given.get("filter") != "_doc_ids":
        raise Refused("doc_ids needs filter=_doc_ids")


# --- bodies ------------------------------------------------------------------

def _check_depth(value: Any, depth: int) -> None:
    """Refuse `value` if it nests deeper than `depth` levels (iteratively: a deep
    document must not exhaust our own stack either)."""
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level >= depth:
            raise Refused(f"nested deeper than {depth} levels")
        stack.extend((child, level + 1) for child in children)


def _expect(condition: bool, reason: str, **detail: Any) -> None:
    if not condition:
        raise Refused(reason, **detail)


def _doc_id(value: Any, where: str) -> str:
    _expect(isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS
            and "\x00" not in value, f"{where} must be a document id (text, 1 to "
            f"{MAX_ID_CHARS} characters)")
    return value


def _rev(value: Any, where: str) -> str:
    _expect(isinstance(value, str) and REV.fullmatch(value) is not None,
            f"{where} must be a revision like 3-1a2b (a number, a dash, letters and digits)")
    return value


def _rev_list(value: Any, where: str) -> None:
    _expect(isinstance(value, list) and len(value) <= MAX_LIST_ITEMS,
            f"{where} must be a list of at most {MAX_LIST_ITEMS} revisions")
    for rev in value:
        _rev(rev, where)


def _revisions(value: Any, rev: str | None, doc_id: str) -> None:
    _expect(isinstance(value, dict) and set(value) == {"start", "ids"},
            "_revisions must be an object with start and ids", id=doc_id)
    start, ids = value["start"], value["ids"]
    _expect(type(start) is int and 1 <= start < 10**10,
            "_revisions.start must be a whole number from 1", id=doc_id)
    _expect(isinstance(ids, list) and 1 <= len(ids) <= min(start, MAX_LIST_ITEMS),
            "_revisions.ids must be a list of 1 to _revisions.start revision hashes", id=doc_id)
    for rev_hash in ids:
        _expect(isinstance(rev_hash, str) and REV_HASH.fullmatch(rev_hash) is not None,
                "_revisions.ids must hold revision hashes (letters and digits)", id=doc_id)
    _expect(rev is None or rev == f"{start}-{ids[0]}",
            "_rev must be _revisions.start and the first of _revisions.ids", id=doc_id)


def _attachments(value: Any, doc_id: str, max_attachment_bytes: int,
                 multipart: bool = False) -> None:
    _expect(isinstance(value, dict), "_attachments must be an object", id=doc_id)
    for name, attachment in value.items():
        _expect(0 < len(name) <= 255 and not name.startswith("_") and "\x00" not in name,
                "an attachment name must be 1 to 255 characters, not starting with _",
                id=doc_id)
        _expect(isinstance(attachment, dict), "an attachment must be an object", id=doc_id,
                attachment=name)
        _expect(isinstance(attachment.get("content_type", ""), str)
                and len(attachment.get("content_type", "")) <= 255,
                "an attachment's content_type must be text", id=doc_id, attachment=name)
        if attachment.get("stub") is True:
            _expect(set(attachment) <= STUB_MEMBERS, "an attachment stub has unknown members",
                    id=doc_id, attachment=name)
            continue
        if multipart and attachment.get("follows") is True:
            length = attachment.get("length")
            _expect(set(attachment) <= FOLLOWS_MEMBERS and type(length) is int and length >= 0,
                    "an attachment that follows needs its length", id=doc_id, attachment=name)
            if length > max_attachment_bytes:
                raise TooLarge(max_attachment_bytes, id=doc_id, attachment=name, size=length)
            continue
        _expect(set(attachment) <= INLINE_MEMBERS and isinstance(attachment.get("data"), str),
                "an attachment must be a stub or carry its data in base64 "
                "(attachments that follow in multipart bodies are not accepted)",
                id=doc_id, attachment=name)
        try:
            size = len(binascii.a2b_base64(attachment["data"], strict_mode=True))
        except binascii.Error as err:
            raise Refused("an attachment's data must be base64", id=doc_id,
                          attachment=name) from err
        if size > max_attachment_bytes:
            raise TooLarge(max_attachment_bytes, id=doc_id, attachment=name, size=size)


class TooLarge(Refused):
    """A body or an attachment above its limit (HTTP 413)."""

    def __init__(self, limit: int, **detail: Any) -> None:
        super().__init__(f"larger than the limit of {limit} bytes", limit=limit, **detail)
        self.limit = limit


def check_doc(doc: Any, max_attachment_bytes: int, new_edits: bool = True,
              url_id: str | None = None, multipart: bool = False) -> None:
    """A document a client writes: its special members as CouchDB defines them.

    `url_id`: the id in the request's path, which the body's `_id` must repeat
    if it has one (a body cannot write another document than the one named).
    """
    _expect(isinstance(doc, dict), "each document must be a JSON object")
    if url_id is not None and "_id" in doc:
        _expect(doc["_id"] == url_id, "the body's _id differs from the path's",
                id=str(doc["_id"])[:200], path_id=url_id[:200])
    doc_id = _doc_id(doc.get("_id", url_id), "_id")
    _expect(not doc_id.startswith("_"), "only surveys and photos may be written here",
            id=doc_id[:200])
    unknown = sorted(name for name in doc if name.startswith("_") and name not in DOC_MEMBERS)
    _expect(not unknown, f"unknown special member {unknown[0] if unknown else ''}",
            id=doc_id[:200])
    rev = doc.get("_rev")
    if rev is not None:
        _rev(rev, "_rev")
    if not new_edits:
        _expect(rev is not None, "a replicated document (new_edits=false) needs its _rev",
                id=doc_id[:200])
    if "_revisions" in doc:
        _revisions(doc["_revisions"], rev, doc_id[:200])
    _expect(isinstance(doc.get("_deleted", False), bool), "_deleted must be true or false",
            id=doc_id[:200])
    if "_attachments" in doc:
        _attachments(doc["_attachments"], doc_id[:200], max_attachment_bytes, multipart)
    _check_depth(doc, MAX_DEPTH)


def multipart_document(data: bytes, content_type: str) -> Any:
    """The JSON document that opens a multipart/related body (the attachments'
    bytes follow it, each as long as the document says)."""
    boundary = re.search(r'boundary="?([^";]{1,200})"?', content_type)
    _expect(boundary is not None, "a multipart body needs its boundary")
    delimiter = b"--" + boundary.group(1).encode("latin-1")
    _expect(data.startswith(delimiter + b"\r\n"), "the multipart body does not open with its "
                                                   "boundary")
    head_end = data.find(b"\r\n\r\n", len(delimiter))
    part_end = data.find(b"\r\n" + delimiter, head_end)
    _expect(head_end > 0 and part_end > 0, "the multipart body's first part is not complete")
    headers = data[len(delimiter) + 2:head_end].decode("latin-1").lower()
    _expect("application/json" in headers, "the first part must be the JSON document")
    try:
        return orjson.loads(data[head_end + 4:part_end])
    except orjson.JSONDecodeError as err:
        raise Refused("the first part is not JSON") from err


def check_local_doc(doc: Any, url_id: str) -> None:
    """A replication checkpoint (`_local/...`): any content, its id and rev in shape."""
    _expect(isinstance(doc, dict), "a checkpoint must be a JSON object")
    _expect(doc.get("_id", url_id) == url_id, "the body's _id differs from the path's",
            path_id=url_id[:200])
    rev = doc.get("_rev")
    _expect(rev is None or (isinstance(rev, str) and (LOCAL_REV.fullmatch(rev) is not None
                                                     or REV.fullmatch(rev) is not None)),
            "a checkpoint's _rev must be like 0-1")
    _check_depth(doc, MAX_DEPTH)


def _check_bulk_docs(body: Any, max_attachment_bytes: int) -> None:
    _expect(isinstance(body, dict) and set(body) <= {"docs", "new_edits"},
            "_bulk_docs takes an object with docs and new_edits")
    docs, new_edits = body.get("docs"), body.get("new_edits", True)
    _expect(isinstance(new_edits, bool), "new_edits must be true or false")
    _expect(isinstance(docs, list) and len(docs) <= MAX_DOCS_PER_WRITE,
            f"docs must be a list of at most {MAX_DOCS_PER_WRITE} documents")
    for doc in docs:
        check_doc(doc, max_attachment_bytes, new_edits)


def _check_revs_diff(body: Any) -> None:
    _expect(isinstance(body, dict) and len(body) <= MAX_LIST_ITEMS,
            f"_revs_diff takes an object of at most {MAX_LIST_ITEMS} ids")
    for doc_id, revs in body.items():
        _doc_id(doc_id, "an id")
        _rev_list(revs, "the revisions of an id")


# CouchDB's own replicator repeats its query's options in a `_bulk_get` body.
BULK_GET_OPTIONS = frozenset({"revs", "latest", "attachments"})


def _check_bulk_get(body: Any) -> None:
    _expect(isinstance(body, dict) and "docs" in body and set(body) <= {"docs", *BULK_GET_OPTIONS}
            and all(isinstance(body[key], bool) for key in BULK_GET_OPTIONS & set(body))
            and isinstance(body["docs"], list) and len(body["docs"]) <= MAX_LIST_ITEMS,
            f"_bulk_get takes {{\"docs\": [...]}} with at most {MAX_LIST_ITEMS} items "
            f"(and {', '.join(sorted(BULK_GET_OPTIONS))}, true or false)")
    for item in body["docs"]:
        _expect(isinstance(item, dict) and set(item) <= {"id", "rev", "atts_since"},
                "each _bulk_get item is {id, rev, atts_since}")
        _doc_id(item.get("id"), "id")
        if "rev" in item:
            _rev(item["rev"], "rev")
        if "atts_since" in item:
            _rev_list(item["atts_since"], "atts_since")


def _check_id_list(body: Any, key: str) -> None:
    _expect(isinstance(body, dict) and set(body) == {key} and isinstance(body[key], list)
            and len(body[key]) <= MAX_LIST_ITEMS,
            f"the body must be {{\"{key}\": [...]}} with at most {MAX_LIST_ITEMS} ids")
    for doc_id in body[key]:
        _doc_id(doc_id, key)


def check_body(endpoint: str, method: str, body: Any, max_attachment_bytes: int,
               params: Mapping[str, str], url_id: str | None = None,
               multipart: bool = False) -> None:
    """Check a parsed JSON body for this endpoint; raise `Refused` (or `TooLarge`)."""
    if endpoint == "_bulk_docs":
        _check_bulk_docs(body, max_attachment_bytes)
    elif endpoint == "_revs_diff":
        _check_revs_diff(body)
    elif endpoint == "_bulk_get":
        _check_bulk_get(body)
    elif endpoint == "_changes":
        _check_id_list(body, "doc_ids")
    elif endpoint == "_all_docs":
        _check_id_list(body, "keys")
    elif endpoint == "_ensure_full_commit":
        _expect(body is None or body == {}, "_ensure_full_commit takes no body")
    elif endpoint == "_local":
        check_local_doc(body, url_id or "")
    elif endpoint == "doc":
        check_doc(body, max_attachment_bytes, params.get("new_edits") != "false", url_id,
                  multipart)
    elif multipart:
        raise Refused("only a document's PUT may be multipart")
    else:
        raise Refused("this request takes no JSON body")
