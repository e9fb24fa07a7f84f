"""The one module that talks to CouchDB.

Every HTTP call Sotay makes to the sync engine (PouchDB Server in the
embedded set-up, Apache CouchDB 3 in production) is in this file, so a
reader can find them all in one place. Document and database operations go
through `ibmcloudant`, the maintained CouchDB client. Three things go over
plain HTTP (`requests`) because ibmcloudant cannot do them:

- the server's configuration (server admins: `/_node/_local/_config` on
  CouchDB 3, `/_config` on PouchDB Server): Cloudant has no `_config`, so the
  SDK has no call for it;
- the sync gateway's pass-through (`forward`): the SDK parses and buffers
  bodies, the gateway must stream arbitrary replication requests both ways.
  This one uses the standard library's `http.client` directly, with a pool
  of kept-alive connections of its own (`_ForwardPool`): a phone's pull is
  hundreds of small requests, each one forwarded. `requests`' per-call work
  (proxy settings read from the environment, cookie jar, hooks) was half the
  gateway's CPU time, and urllib3's, under it, twice what `http.client`
  needs for the same forward (bench/RESULTS.md);
- reading `_changes`: the SDK's `ChangesFollower` waits for CouchDB's
  `pending` field, which PouchDB Server never sends. The ingest's
  reads of pages and photos (`changes_raw`, `attachment`) go over the same
  `http.client` pool as the gateway, at a fifth of `requests`' CPU per
  page (bench/RESULTS.md).

Sequence values are opaque: they are passed back exactly as received
(integers from PouchDB Server, strings from CouchDB 3).

The admin credential is precious: CouchDB 3.4 locks a user out for five
minutes after five failed logins from one address (`[chttpd_auth_lockout]`),
and every Sotay process on a host logs in as the same admin. So once CouchDB
refuses the admin's credential (401 or 403), this client sends it no more
for `ADMIN_RETRY_SECONDS` and answers every admin call at once with the same
`AdminRefused`: one process with a wrong or stale password makes one failed
login every ten minutes, never enough to lock the others out.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import re
import select
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import requests
from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import BasicAuthenticator, NoAuthAuthenticator
from ibmcloudant.cloudant_v1 import CloudantV1

from messages import say

USERS_DB = "_users"
FORWARD_POOL = 64  # at least the web server's threads
_READER_LOCK = threading.Lock()
# Twice CouchDB's lockout window: even a few processes with a wrong password
# never make the five failed logins within five minutes that lock the admin.
ADMIN_RETRY_SECONDS = 600.0


class CouchError(Exception):
    """CouchDB answered with an error, or could not be reached."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"CouchDB {status or 'unreachable'}: {message}")
        self.status = status
        self.reason = message

    @property
    def said(self) -> str:
        """What CouchDB said (its status and `reason`), or why it could not be reached,
        in a few words."""
        text = " ".join(self.reason.split())
        if self.status is None:
            cause = _ERRNO.search(text)
            return cause.group(1).strip() if cause else text[:160]
        try:
            reason = json.loads(text).get("reason", text)
        except (ValueError, AttributeError):
            reason = text
        return f"{self.status} {str(reason)[:160]}"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class AdminRefused(CouchError):
    """CouchDB refused the admin's credential; no admin call is sent until `retry_at`."""

    def __init__(self, status: int, message: str, base_url: str, admin: str,
                 retry_at: float) -> None:
        super().__init__(status, message)
        self.base_url, self.admin, self.retry_at = base_url, admin, retry_at
        said = self.said
        minutes = round(ADMIN_RETRY_SECONDS / 60)
        self.vi, self.en = say("sync.couch.admin_refused", url=base_url, admin=admin,
                               said=said, minutes=minutes)

    def __str__(self) -> str:
        return f"{self.vi} / {self.en}"

    def seconds_left(self) -> float:
        return max(0.0, self.retry_at - time.monotonic())


class _AdminGate:
    """Whether the admin's credential may be sent: not for `ADMIN_RETRY_SECONDS` after
    CouchDB refused it. Shared by a client and its `reader()`."""

    def __init__(self, base_url: str, admin: str) -> None:
        self._base_url, self._admin = base_url, admin
        self._refused: AdminRefused | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            if self._refused is not None and self._refused.seconds_left() > 0:
                raise self._refused

    def saw(self, status: int, text: Callable[[], str]) -> None:
        """Note a reply to an admin request: a 401 or 403 closes the gate."""
        if status in (401, 403):
            refused = AdminRefused(status, text(), self._base_url, self._admin,
                                   time.monotonic() + ADMIN_RETRY_SECONDS)
            with self._lock:
                self._refused = refused
            raise refused


class _GatedSession(requests.Session):
    """A `requests` session whose every request goes through the admin gate."""

    def __init__(self, gate: _AdminGate) -> None:
        super().__init__()
        self._gate = gate

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self._gate.check()
        try:
            reply = super().send(request, **kwargs)
        except requests.RequestException as err:
            raise CouchError(None, str(err)) from err
        self._gate.saw(reply.status_code, lambda: reply.text[:300])
        return reply


@dataclass(frozen=True)
class ChangesPage:
    results: list[dict]
    last_seq: Any


def userdb_name(username: str) -> str:
    """Name of a volunteer's database, as CouchDB's couch_peruser names it."""
    return "userdb-" + username.encode("utf-8").hex()


def split_credentials(url: str) -> tuple[str, str, str]:
    """Split `http://user:pass@host:port/` into (base url, user, password)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base, parts.username or "", parts.password or ""


def _utf8(user: str, password: str) -> tuple[bytes, bytes]:
    """Basic credentials for `requests` as CouchDB reads them: UTF-8 (`requests`
    encodes text as Latin-1, which turns `pässword` into other bytes and refuses
    `mật khẩu`); bytes go through as they are."""
    return user.encode("utf-8"), password.encode("utf-8")


def _basic_authorization(user: str, password: str) -> str:
    """An `Authorization` header's value for CouchDB's basic auth (UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _path(*segments: str) -> str:
    return "/".join(quote(s, safe="") for s in segments)


class Upstream:
    """CouchDB's streaming reply to a forwarded request."""

    def __init__(self, reply: http.client.HTTPResponse, release: Callable[[bool], None],
                 bodiless: bool = False) -> None:
        self._reply = reply
        self._release = release
        # A reply to HEAD, or a 1xx, 204 or 304, has no body, whatever its headers say.
        self.bodiless = bodiless or reply.status < 200 or reply.status in (204, 304)
        self.status_code = reply.status
        self.headers = reply.msg

    def stream(self, chunk_size: int) -> Iterator[bytes]:
        """The body as CouchDB sent it (still compressed if it was), each piece as soon
        as it arrives (a longpoll's heartbeats too), at most `chunk_size` bytes.
        A body that ends before its Content-Length is an `http.client.IncompleteRead`."""
        reply = self._reply
        while chunk := reply.read1(chunk_size):
            if self._read_to_end():
                # The connection can serve another request now, whether or not the
                # caller asks for more.
                self.close()
                yield chunk
                return
            yield chunk
        short = reply.length
        self.close()
        if short and not reply.chunked and not self.bodiless:
            raise http.client.IncompleteRead(b"", short)

    def read(self) -> bytes:
        """The whole body (`http.client.IncompleteRead` if it ends before its
        Content-Length); `close` gives the connection back."""
        return b"" if self.bodiless else self._reply.read()

    def close(self) -> None:
        """Give the connection back for reuse if the body was read to its end, else
        drop it (unread bytes would be taken for the next reply)."""
        reusable = self._read_to_end() and not self._reply.will_close
        self._reply.close()
        release, self._release = self._release, _released
        release(reusable)

    def _read_to_end(self) -> bool:
        reply = self._reply
        if self.bodiless:
            return True
        if reply.length is not None and not reply.chunked:
            return reply.length == 0  # not merely closed: CouchDB may have cut it short
        return reply.isclosed()


class _ForwardPool:
    """Kept-alive connections to CouchDB for the gateway, shared by its threads.

    One is taken for a request and given back once its reply has been read to
    the end. A connection CouchDB has closed meanwhile (Node closes idle ones
    after 5 s, a restart closes all) is seen before it is used and dropped; if
    it closes in the instant between, a GET or HEAD is sent once more on a new
    connection (a write is not: CouchDB may have applied it).
    No cookies are kept: each request carries its own volunteer's credentials.
    """

    CONNECT_TIMEOUT = 5.0
    BLOCK = 64 * 1024  # bytes of a request body read and sent at a time
    RESENDABLE = frozenset({"GET", "HEAD"})

    def __init__(self, base_url: str, size: int) -> None:
        parts = urlsplit(base_url)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._host = parts.hostname or "localhost"
        # Given always: http.client would read an IPv6 address's last group as a port.
        self._port = parts.port or (443 if self._tls is not None else 80)
        self._prefix = parts.path.rstrip("/")
        self._size = size
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        # Idle connections are closed with the pool, not left to the garbage collector.
        weakref.finalize(self, _close_all, self._idle)

    def request(self, method: str, path: str, headers: Mapping[str, str], body: Any,
                read_timeout: float | None) -> Upstream:
        while True:
            conn, reused = self._take()
            try:
                if conn.sock is None:
                    conn.connect()
                conn.sock.settimeout(read_timeout)
                try:
                    # With no Content-Length, http.client sends an iterator's pieces
                    # chunked.
                    conn.request(method, self._prefix + path, body=body, headers=headers)
                except (BrokenPipeError, ConnectionResetError):
                    if body is None:
                        raise
                    # CouchDB may have refused the request (401, 403, 413) and closed
                    # without reading its body: its answer is still there to be read.
                reply = conn.getresponse()
            except ConnectionError:
                conn.close()
                if reused and body is None and method in self.RESENDABLE:
                    continue  # the kept-alive connection was closed under us
                raise
            except BaseException:
                conn.close()
                raise
            return Upstream(reply, functools.partial(self._give_back, conn),
                            bodiless=method == "HEAD")

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection, and whether it has carried a request before."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if not _closed_by_peer(conn.sock):
                return conn, True
            conn.close()
        if self._tls is not None:
            return http.client.HTTPSConnection(self._host, self._port,
                                               timeout=self.CONNECT_TIMEOUT,
                                               blocksize=self.BLOCK, context=self._tls), False
        return http.client.HTTPConnection(self._host, self._port, timeout=self.CONNECT_TIMEOUT,
                                          blocksize=self.BLOCK), False

    def _give_back(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable and conn.sock is not None:
            with self._lock:
                if len(self._idle) < self._size:
                    self._idle.append(conn)
                    return
        conn.close()


def _close_all(connections: list[http.client.HTTPConnection]) -> None:
    while connections:
        connections.pop().close()


def _released(reusable: bool) -> None:
    """What closing an `Upstream` a second time does: nothing."""


def _closed_by_peer(sock: Any) -> bool:
    """Whether an idle kept-alive socket has anything to read: the peer's close (or
    bytes no request asked for); either way it cannot carry a request."""
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


def _changes_params(since: Any, limit: int) -> dict[str, Any]:
    return {"since": since if since is not None else 0, "limit": limit, "style": "all_docs",
            "conflicts": "true"}


# A `_changes` reply: `{"results": [...], "last_seq": ..., ...}`, the results first, in
# both CouchDB 3 and PouchDB Server.
_RESULTS_FIRST = re.compile(rb'\s*\{\s*"results"\s*:\s*\[')
_NO_RESULTS = re.compile(rb'\s*\{\s*"results"\s*:\s*\[\s*\]')
_LAST_SEQ = b'"last_seq"'
UNSURE = object()  # what `RawChanges.next_since` gives when it cannot tell ...
END = object()  # ... and when the page is empty: the feed has ended


@dataclass(frozen=True)
class RawChanges:
    """A `_changes` reply before parsing (`Couch.changes_raw`, `Couch.parse_changes`)."""

    db: str
    since: Any
    limit: int
    body: bytes

    def next_since(self) -> Any:
        """Where the next page starts, read off the end of the reply without parsing
        it (a few microseconds, where parsing a page of surveys takes milliseconds),
        `END` when the page is empty (the feed has ended), or `UNSURE`.

        The top-level `last_seq` follows the results, so it is the last `"last_seq"`
        key in the reply: one inside a document comes before it, and inside a JSON
        string the quotes are escaped. A reply of another shape gives `UNSURE`;
        whoever acts on this compares it with the parsed page's `last_seq`.
        """
        if _NO_RESULTS.match(self.body):
            return END
        if not _RESULTS_FIRST.match(self.body):
            return UNSURE
        at = self.body.rfind(_LAST_SEQ)
        if at < 0:
            return UNSURE
        try:
            tail = self.body[at + len(_LAST_SEQ):].decode("utf-8")
            colon = re.match(r"\s*:\s*", tail)
            if colon is None:
                return UNSURE
            value, _end = json.JSONDecoder().raw_decode(tail, colon.end())
        except ValueError:  # includes UnicodeDecodeError
            return UNSURE
        return value


def first_rev(change: dict) -> str:
    """The revision a `_changes` result names first ("" if it names none)."""
    return (change.get("changes") or [{}])[0].get("rev", "")


class Couch:
    """A CouchDB server, reached as its admin."""

    def __init__(self, base_url: str, admin: str, password: str, timeout: float = 30.0,
                 gate: _AdminGate | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin = admin
        self._password = password
        self.timeout = timeout
        self._gate = gate or _AdminGate(self.base_url, admin)
        self._http = _GatedSession(self._gate)
        if admin:
            self._http.auth = _utf8(admin, password)
        self._forwarding = _ForwardPool(self.base_url, FORWARD_POOL)
        # What the admin's own reads over that pool send (`_read`).
        self._admin_headers = {"Authorization": _basic_authorization(admin, password)} \
            if admin else {}
        self._sdk = CloudantV1(authenticator=BasicAuthenticator(admin, password) if admin
                               else NoAuthAuthenticator())
        self._sdk.set_service_url(self.base_url)
        sdk_session = _GatedSession(self._gate)
        for scheme in ("http://", "https://"):
            sdk_session.mount(scheme, self._sdk.http_adapter)
        self._sdk.set_http_client(sdk_session)
        self._sdk.set_http_config({"timeout": timeout})
        self._reader: Couch | None = None

    def reader(self) -> Couch:
        """A second client to the same server, for a thread that reads while this one works.

        Made once and kept: the ingest's read-ahead uses it for every database.
        """
        with _READER_LOCK:
            if self._reader is None:
                self._reader = Couch(self.base_url, self.admin, self._password, self.timeout,
                                     self._gate)
            return self._reader

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> Couch:
        base, user, password = split_credentials(url)
        return cls(base, user, password, timeout)

    # -- server ---------------------------------------------------------

    def server_info(self) -> dict:
        return self._call(self._sdk.get_server_information)

    def ensure_admin(self) -> None:
        """Make our credentials a server admin if the server has none yet.

        PouchDB Server starts in "admin party" mode (everyone is admin): there
        the admin is created. CouchDB 3 refuses to start without an admin, so
        there this finds the admin in place, or makes one failed login and
        raises `AdminRefused`.
        """
        try:
            anyone = requests.get(f"{self.base_url}/_session", timeout=self.timeout)
        except requests.RequestException as err:
            raise CouchError(None, str(err)) from err
        if anyone.ok and "_admin" in anyone.json().get("userCtx", {}).get("roles", []):
            self.add_admin(self.admin, self._password, auth=None)
        self.check_admin()

    def check_admin(self) -> None:
        """One request as the admin: `AdminRefused` unless CouchDB takes us as a server admin."""
        reply = self._get(f"{self.base_url}/_session", timeout=self.timeout)
        self._raise_for(reply)
        if "_admin" not in reply.json().get("userCtx", {}).get("roles", []):
            self._gate.saw(403, lambda: f"{self.admin} is not a server admin")

    def add_admin(self, name: str, password: str, auth: tuple[str, str] | None) -> bool:
        """Make `name` a server admin (as `auth`, or as no one in an admin party);
        False if the server refuses. CouchDB 3 keeps its configuration under
        `/_node/_local/_config`, PouchDB Server under `/_config`."""
        refusals = []
        for config in ("_node/_local/_config", "_config"):
            try:
                reply = requests.put(f"{self.base_url}/{config}/admins/{quote(name, safe='')}",
                                     data=json.dumps(password), timeout=self.timeout,
                                     auth=_utf8(*auth) if auth else None)
            except requests.RequestException as err:
                raise CouchError(None, str(err)) from err
            if reply.ok:
                self._await_hashed(f"{self.base_url}/{config}/admins/{quote(name, safe='')}",
                                   auth)
                return True
            if reply.status_code in (401, 403):
                return False
            refusals.append(reply)
            if reply.status_code not in (400, 404, 405):  # not "no such configuration API"
                break
        said = refusals[0] if refusals[-1].status_code in (400, 404, 405) else refusals[-1]
        raise CouchError(said.status_code, "cannot create the server admin: " + said.text[:300])

    def _await_hashed(self, url: str, auth: tuple[str, str] | None) -> None:
        """Wait (a few seconds at most) until CouchDB 3 has hashed a new admin's password:
        until then it refuses the admin's logins, and each refusal counts towards a
        lockout. PouchDB Server answers hashed at once."""
        for _ in range(50):
            reply = requests.get(url, timeout=self.timeout, auth=_utf8(*auth) if auth else None)
            if not reply.ok or str(reply.json()).startswith("-"):
                return
            time.sleep(0.1)

    def remove_admin(self, name: str) -> None:
        """Remove a server admin (as our admin); gone already is fine."""
        for config in ("_node/_local/_config", "_config"):
            try:
                reply = self._http.delete(f"{self.base_url}/{config}/admins/"
                                          f"{quote(name, safe='')}", timeout=self.timeout)
            except requests.RequestException as err:
                raise CouchError(None, str(err)) from err
            if reply.ok:
                return
            if reply.status_code not in (400, 404, 405):
                self._raise_for(reply)

    def db_updates(self, since: Any, timeout_ms: int) -> ChangesPage | None:
        """Databases changed since `since`, or None where the server lacks `_db_updates`.

        PouchDB Server has no `_db_updates` (it answers 400, 404 or 405); CouchDB 3
        has it once the `_global_changes` database exists. Any other failure (a
        500 or 503 from a node that is busy or starting) raises `CouchError`:
        the caller tries again later.
        """
        reply = self._get(f"{self.base_url}/_db_updates",
                          params={"since": since if since is not None else "now",
                                  "feed": "longpoll", "timeout": timeout_ms},
                          timeout=self.timeout + timeout_ms / 1000)
        if reply.status_code in (400, 404, 405):
            return None
        self._raise_for(reply)
        body = reply.json()
        return ChangesPage(body.get("results", []), body.get("last_seq"))

    # -- databases ------------------------------------------------------

    def all_dbs(self) -> list[str]:
        """Every database's name (an admin's view: `sotay backup` finds Sotay's own)."""
        return self._call(self._sdk.get_all_dbs)

    def ensure_db(self, db: str) -> None:
        try:
            self._sdk.put_database(db=db)
        except ApiException as err:
            if err.status_code != 412:
                raise CouchError(err.status_code, err.message) from err

    def delete_db(self, db: str) -> None:
        try:
            self._sdk.delete_database(db=db)
        except ApiException as err:
            if err.status_code != 404:
                raise CouchError(err.status_code, err.message) from err

    def db_info(self, db: str) -> dict:
        return self._call(self._sdk.get_database_information, db=db)

    def set_security(self, db: str, names: list[str], roles: list[str]) -> None:
        """Limit `db` to the given member names and roles (admins always pass)."""
        self._call(self._sdk.put_security, db=db, admins={"names": [], "roles": []},
                   members={"names": names, "roles": roles})

    def security(self, db: str) -> dict:
        return self._call(self._sdk.get_security, db=db)

    def put_security(self, db: str, security: dict) -> None:
        """Write a `_security` object as it is (a restore puts back what a backup read)."""
        try:
            reply = self._http.put(f"{self.base_url}/{_path(db)}/_security",
                                   data=json.dumps(security),
                                   headers={"Content-Type": "application/json"},
                                   timeout=self.timeout)
        except requests.RequestException as err:
            raise CouchError(None, str(err)) from err
        self._raise_for(reply)

    # -- documents ------------------------------------------------------

    def get(self, db: str, doc_id: str, **options: Any) -> dict | None:
        try:
            return self._sdk.get_document(db=db, doc_id=doc_id, **options).get_result()
        except ApiException as err:
            if err.status_code == 404:
                return None
            raise CouchError(err.status_code, err.message) from err

    def put(self, db: str, doc: dict) -> str:
        """Write `doc` (with its `_rev` if it is an update); return the new rev."""
        try:
            result = self._sdk.put_document(db=db, doc_id=doc["_id"], document=doc).get_result()
        except ApiException as err:
            raise CouchError(err.status_code, err.message) from err
        return result["rev"]

    def upsert(self, db: str, doc: dict) -> str:
        """Write `doc` over whatever revision is current; return the new rev."""
        current = self.get(db, doc["_id"])
        body = dict(doc)
        if current is not None:
            body["_rev"] = current["_rev"]
        return self.put(db, body)

    def get_design(self, db: str, name: str) -> dict | None:
        try:
            return self._sdk.get_design_document(db=db, ddoc=name).get_result()
        except ApiException as err:
            if err.status_code == 404:
                return None
            raise CouchError(err.status_code, err.message) from err

    def put_design(self, db: str, name: str, body: dict) -> None:
        """Write a design document over its current revision, if any."""
        current = self.get_design(db, name)
        document = dict(body, _id=f"_design/{name}")
        if current is not None:
            document["_rev"] = current["_rev"]
        self._call(self._sdk.put_design_document, db=db, ddoc=name, design_document=document)

    def bulk_write(self, db: str, docs: list[dict], new_edits: bool = True) -> list[dict]:
        return self._call(self._sdk.post_bulk_docs, db=db,
                          bulk_docs={"docs": docs, "new_edits": new_edits})

    def open_revs(self, db: str, doc_id: str, revs: Iterable[str] | None = None,
                  attachments: bool = False) -> list[dict]:
        """The given leaf revisions of a document (all leaves by default, deleted ones
        too), with history; with `attachments`, their data inline (base64)."""
        params = {"open_revs": json.dumps(list(revs)) if revs is not None else "all",
                  "revs": "true", "latest": "true"}
        if attachments:
            params["attachments"] = "true"
        reply = self._get(f"{self.base_url}/{_path(db, doc_id)}", params=params,
                          headers={"Accept": "application/json"}, timeout=self.timeout)
        self._raise_for(reply)
        return [entry["ok"] for entry in reply.json() if "ok" in entry]

    def leaf_text(self, db: str, doc_id: str, rev: str, attachments: bool = True) -> str:
        """One revision with its history (and attachments inline) as CouchDB sends it,
        unparsed: for a document nested too deeply for Python's JSON reader."""
        params = {"rev": rev, "revs": "true", **({"attachments": "true"} if attachments else {})}
        return self._read(f"/{_path(db, doc_id)}?{urlencode(params)}",
                          self.timeout).decode("utf-8")

    def bulk_write_texts(self, db: str, docs: list[str], new_edits: bool = True) -> list[dict]:
        """`bulk_write` of documents given as JSON text, sent without being parsed."""
        edits = "true" if new_edits else "false"
        body = f'{{"new_edits":{edits},"docs":[{",".join(docs)}]}}'
        try:
            reply = self._http.post(f"{self.base_url}/{_path(db)}/_bulk_docs",
                                    data=body.encode("utf-8"), timeout=self.timeout,
                                    headers={"Content-Type": "application/json",
                                             "Accept": "application/json"})
        except requests.RequestException as err:
            raise CouchError(None, str(err)) from err
        self._raise_for(reply)
        return reply.json()

    def attachment(self, db: str, doc_id: str, name: str, rev: str | None = None) -> bytes:
        query = "?" + urlencode({"rev": rev}) if rev else ""
        return self._read(f"/{_path(db, doc_id, name)}{query}", self.timeout, accept=None)

    def changes(self, db: str, since: Any, limit: int) -> ChangesPage:
        """One page of `_changes` after `since`, with documents and all leaf revisions.

        A document nested too deeply for Python's JSON reader (a phone can
        write one: CouchDB takes it) would make the whole page unreadable, for
        ever; the page is then read again one document at a time, and such a
        document comes as a change with `unreadable` (an excerpt) and no `doc`.
        """
        return self.parse_changes(self.changes_raw(db, since, limit))

    def changed_ids(self, db: str, since: Any, limit: int) -> ChangesPage:
        """One page of `_changes` after `since` without documents: each result's `id`,
        its leaf revisions (`changes`) and whether it is `deleted`."""
        body = self._read(f"/{_path(db)}/_changes?{urlencode(_changes_params(since, limit))}",
                          self.timeout)
        try:
            page = json.loads(body)
        except ValueError as err:
            raise CouchError(None, f"_changes of {db} is not JSON: {err}") from err
        return ChangesPage(page.get("results", []), page.get("last_seq", since))

    def changes_raw(self, db: str, since: Any, limit: int) -> RawChanges:
        """`changes` without its parsing: the reply as it came (`parse_changes` reads it)."""
        # The normal feed only: PouchDB Server sends a longpoll's heartbeats (a newline
        # every 6 s) whatever `timeout` asks, and each would restart the read timeout.
        params = {**_changes_params(since, limit), "include_docs": "true"}
        body = self._read(f"/{_path(db)}/_changes?{urlencode(params)}", self.timeout)
        return RawChanges(db, since, limit, body)

    def parse_changes(self, raw: RawChanges) -> ChangesPage:
        """The page a `changes_raw` reply holds (read again document by document if it
        nests too deeply to parse)."""
        try:
            body = json.loads(raw.body)
        except RecursionError:
            return self._changes_doc_by_doc(raw.db, _changes_params(raw.since, raw.limit))
        except ValueError as err:
            raise CouchError(None, f"_changes of {raw.db} is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise CouchError(None, f"_changes of {raw.db} is not a JSON object")
        return ChangesPage(body.get("results", []), body.get("last_seq", raw.since))

    def _changes_doc_by_doc(self, db: str, params: dict[str, Any]) -> ChangesPage:
        reply = self._get(f"{self.base_url}/{_path(db)}/_changes", params=params,
                          timeout=self.timeout)
        self._raise_for(reply)
        body = reply.json()
        results = []
        for change in body.get("results", []):
            doc_id = change.get("id", "")
            rev = first_rev(change)
            deleted = {"_id": doc_id, "_rev": rev, "_deleted": True}
            if change.get("deleted"):
                change["doc"] = deleted
            else:
                one = self._get(f"{self.base_url}/{_path(db, doc_id)}",
                                params={"conflicts": "true"},
                                headers={"Accept": "application/json"}, timeout=self.timeout)
                if one.status_code == 404:  # deleted since
                    change["doc"] = deleted
                else:
                    self._raise_for(one)
                    try:
                        change["doc"] = one.json()
                    except RecursionError:
                        change["unreadable"] = one.text[:2000]
            results.append(change)
        return ChangesPage(results, body.get("last_seq", params["since"]))

    # -- users ----------------------------------------------------------

    def put_user(self, name: str, password: str, roles: list[str]) -> None:
        doc_id = f"org.couchdb.user:{name}"
        current = self.get(USERS_DB, doc_id)
        doc = {"_id": doc_id, "name": name, "type": "user", "roles": roles, "password": password}
        if current is not None:
            doc["_rev"] = current["_rev"]
        self.put(USERS_DB, doc)

    def delete_user(self, name: str) -> None:
        doc_id = f"org.couchdb.user:{name}"
        current = self.get(USERS_DB, doc_id)
        if current is not None:
            self._call(self._sdk.delete_document, db=USERS_DB, doc_id=doc_id,
                       rev=current["_rev"])

    # -- gateway pass-through --------------------------------------------

    def forward(self, method: str, path: str, query: str, headers: Mapping[str, str],
                body: Any, auth: tuple[str, str], read_timeout: float | None,
                chunked: bool = False) -> Upstream:
        """Send one request as the given CouchDB user and return the streaming reply.

        `body` is None, bytes, or a file-like object whose length `headers` give;
        with `chunked`, an iterator of bytes sent in chunks.
        """
        target = f"/{path}?{query}" if query else f"/{path}"
        sent = dict(headers)
        sent["Authorization"] = _basic_authorization(*auth)
        if chunked:
            sent.pop("Content-Length", None)
        try:
            return self._forwarding.request(method, target, sent, body, read_timeout)
        except (OSError, http.client.HTTPException) as err:
            raise CouchError(None, f"{type(err).__name__}: {err}") from err

    # -- helpers --------------------------------------------------------

    def _call(self, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs).get_result()
        except ApiException as err:
            raise CouchError(err.status_code, err.message) from err
        except requests.RequestException as err:
            raise CouchError(None, str(err)) from err

    def _read(self, target: str, read_timeout: float,
              accept: str | None = "application/json") -> bytes:
        """GET `target` as the admin over the kept-alive pool; the whole body of a 2xx
        reply, else a CouchError, as `_get` and `_raise_for` give."""
        headers = {**self._admin_headers, "Accept": accept} if accept else self._admin_headers
        self._gate.check()
        try:
            reply = self._forwarding.request("GET", target, headers, None, read_timeout)
            try:
                body = reply.read()
            finally:
                reply.close()
        except (OSError, http.client.HTTPException) as err:
            raise CouchError(None, f"{type(err).__name__}: {err}") from err
        self._gate.saw(reply.status_code, lambda: body[:300].decode("utf-8", "replace"))
        if not 200 <= reply.status_code < 300:
            raise CouchError(reply.status_code, body[:500].decode("utf-8", "replace"))
        return body

    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET over our session; an unreachable server is a CouchError, like any other."""
        try:
            return self._http.get(url, **kwargs)
        except requests.RequestException as err:
            raise CouchError(None, str(err)) from err

    @staticmethod
    def _raise_for(reply: requests.Response) -> None:
        if not reply.ok:
            raise CouchError(reply.status_code, reply.text[:500])
