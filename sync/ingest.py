"""The ingest: follow every volunteer database's changes and turn them into rows.

Modelled on CHT's sentinel feed: read the checkpoint, read `_changes` from
it, skip design documents, put back our own feedback documents where a phone
changed them, handle each change in small ordered steps, and hand the
outcomes of a whole page to the store, which commits them together with the
new checkpoint in one transaction. A crash at any point therefore replays
the pages not yet committed (at most a few: one read ahead, one being
validated, one waiting to be committed), and the store's writes are
idempotent (keyed by database, document and revision), so nothing is lost
and nothing doubled. A change that cannot be accepted becomes a
`Quarantined` outcome with its reason: it is recorded, never thrown.

Per database, reading, handling, validating and committing overlap:
`_ReadAhead` reads the next page, the caller's thread handles this one, the
`Validator` (sync/validation.py: in the caller's thread on two cores, else
in a process of its own) validates its surveys, `_Committer` commits the
page before, in order, with its own store session, once that page's
validation is done.

`sync/` never imports `server/`: the SQL side is the `IngestStore` the server
passes in.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from forms.model import nested_deeper_than
from forms.submission import CompiledForm
from media.pipeline import Limits, PhotoRejected, process_photo
from media.store import PhotoStore, put_photo
from sync.conflicts import MergeNeeded, MergeStore, live_leaves, plan_merge, write_back_merges
from sync.couch import (
    END,
    UNSURE,
    AdminRefused,
    ChangesPage,
    Couch,
    CouchError,
    RawChanges,
    first_rev,
)
from sync.provision import FEEDBACK_PREFIX, is_server_feedback, restore_feedback
from sync.validation import FAILED, InProcess, Pending, Validator

log = logging.getLogger(__name__)

# Changes per page. Each page costs a few fixed round trips and a commit; at
# 300 the 5,000-survey ingest in bench/bench_sync.py runs about a third faster
# than at 100. A page with photos takes longer to handle (each is fetched and
# processed), and a crash repeats at most the few pages in flight.
PAGE_SIZE = 300

# Deeper documents are quarantined, cut to this depth: a form's answers nest a
# few levels, and JSON readers give up at about a thousand (with the reader's
# own calls on the stack, sometimes a little less).
KEPT_DEPTH = 64


@dataclass(frozen=True)
class SurveyRevision:
    couch_db: str
    doc: dict
    errors: list[dict]


@dataclass(frozen=True)
class PhotoReceived:
    couch_db: str
    doc: dict
    sha256: str
    mime: str
    width: int
    height: int
    phash: str
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoDeleted:
    """The volunteer deleted a photo document: its photo no longer documents the survey."""

    couch_db: str
    doc_id: str
    rev: str


@dataclass(frozen=True)
class Quarantined:
    couch_db: str
    doc_id: str
    rev: str
    code: str
    vi: str
    en: str
    body: dict
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Unvalidated:
    """A final survey whose validation is still to come (`_validated` replaces it)."""

    couch_db: str
    doc: dict
    form: CompiledForm


Outcome = SurveyRevision | PhotoReceived | PhotoDeleted | Quarantined | MergeNeeded


class StoreUnavailable(Exception):
    """The relational store cannot be reached right now: retry later, quarantine nothing."""


class IngestStore(MergeStore, Protocol):
    """What the ingest needs from the relational side."""

    def volunteer_dbs(self) -> list[str]: ...

    def checkpoint(self, couch_db: str) -> Any: ...

    def form(self, form_id: str, version: str) -> CompiledForm | None:
        """The form version, compiled; None if it is not published."""
        ...

    def apply(self, couch_db: str, outcomes: list[Outcome], last_seq: Any) -> None: ...

    def expected_feedback(self, couch_db: str, survey_id: str) -> dict | None:
        """The fields of the feedback the server gives this survey, or None."""
        ...

    def troubles(self) -> dict[str, bool]:
        """Databases with strikes against them, each with whether it is held."""
        ...

    def strike(self, couch_db: str, reason: str) -> bool:
        """Count a stop of the CouchDB-API server while `couch_db` was read;
        return whether the database is now held."""
        ...

    def clear(self, couch_db: str) -> None:
        """`couch_db` was read to its end: forget the strikes against it."""
        ...

    def touched_since(self, marker: Any) -> tuple[list[str], Any]:
        """Databases the gateway saw written after `marker` (all marks for None),
        and the marker to pass next time."""
        ...

    def thread_context(self) -> AbstractContextManager:
        """What a thread of the ingest's own enters before it uses the store
        (called in the ingest's thread; the other thread enters the result)."""
        ...


def _key_text(value: Any) -> str:
    """A document id or rev as a storable key: text without NUL, at most 200 characters.

    The full value stays in the quarantined body.
    """
    return str(value).replace("\x00", "\ufffd")[:200]


def _without_attachments(doc: dict) -> dict:
    """A document's body as stored: its attachments are the photo store's."""
    return {key: value for key, value in doc.items() if key != "_attachments"}


def _quarantine(couch_db: str, doc: dict, code: str, vi: str, en: str,
                **detail: Any) -> Quarantined:
    return Quarantined(couch_db, _key_text(doc.get("_id", "")), _key_text(doc.get("_rev", "")),
                       code, vi, en, doc, detail)


# What the phone writes: `survey:<uuid>`, `photo:<uuid>` (docs/contracts.md).
DOC_ID = re.compile(r"^(survey|photo):[A-Za-z0-9._\-]{1,100}$")


def handle_survey(couch_db: str, doc: dict, store: IngestStore) -> Outcome | Unvalidated:
    form_id, version, answers = doc.get("form_id"), doc.get("form_version"), doc.get("answers")
    if not (isinstance(form_id, str) and isinstance(version, str) and isinstance(answers, dict)):
        return _quarantine(couch_db, doc, "malformed",
                           "Khảo sát thiếu biểu mẫu, phiên bản hoặc câu trả lời.",
                           "The survey lacks its form, form version or answers.")
    if doc.get("status") not in ("draft", "final"):
        return _quarantine(couch_db, doc, "malformed",
                           "Trạng thái khảo sát không hợp lệ.", "The survey's status is not valid.",
                           status=doc.get("status"))
    form = store.form(form_id, version)
    if form is None:
        return _quarantine(couch_db, doc, "unknown_form",
                           f"Không có biểu mẫu {form_id} phiên bản {version}.",
                           f"There is no form {form_id} version {version}.",
                           form_id=form_id, form_version=version)
    if doc["status"] == "final":
        return Unvalidated(couch_db, doc, form)
    return SurveyRevision(couch_db, doc, [])


def handle_photo(couch_db: str, doc: dict, couch: Couch, photos: PhotoStore,
                 limits: Limits) -> Outcome:
    attachments = doc.get("_attachments") or {}
    survey_id = doc.get("survey_id")
    if not isinstance(survey_id, str) or not DOC_ID.match(survey_id) or len(attachments) != 1:
        return _quarantine(couch_db, doc, "malformed",
                           "Ảnh phải thuộc một khảo sát và có đúng một tệp ảnh.",
                           "A photo must belong to a survey and carry exactly one image.")
    name = next(iter(attachments))
    if not isinstance(name, str) or name in (".", "..") or name.startswith("_") or "/" in name:
        return _quarantine(couch_db, _without_attachments(doc),
                           "malformed", "Tên tệp ảnh không hợp lệ.",
                           "The photo's file name is not valid.", attachment=str(name)[:100])
    data = couch.attachment(couch_db, doc["_id"], name, doc["_rev"])
    try:
        processed = process_photo(data, limits=limits)
    except PhotoRejected as err:
        return _quarantine(couch_db, _without_attachments(doc),
                           err.code, err.vi, err.en, attachment=name)
    put_photo(photos, data, processed.preview, processed.thumbnail)
    body = _without_attachments(doc)
    return PhotoReceived(couch_db, body, processed.sha256, processed.mime, processed.width,
                         processed.height, processed.phash,
                         processed.facts())


def handle_conflicted_survey(couch_db: str, doc: dict, couch: Couch,
                             store: IngestStore) -> list[Outcome | Unvalidated]:
    """Every live leaf stored as a revision, plus the merge to write back."""
    leaves = live_leaves(couch, couch_db, doc["_id"])
    outcomes = [handle_survey(couch_db, leaf, store) for leaf in leaves]
    if len(leaves) > 1 and all(isinstance(o, SurveyRevision | Unvalidated) for o in outcomes):
        outcomes.append(plan_merge(couch, store, couch_db, leaves))
    return outcomes


def check_feedback(couch_db: str, doc: dict, couch: Couch, store: IngestStore) -> list[Outcome]:
    """Put the server's feedback back if the phone changed, deleted or forged it.

    Feedback documents are the server's: the gateway refuses a phone's direct
    write to one, but a `_bulk_docs` push can still carry one. Whatever the
    phone wrote is kept in quarantine for inspection.
    """
    doc_id = doc["_id"]
    expected = store.expected_feedback(couch_db, doc_id[len(FEEDBACK_PREFIX):])
    if is_server_feedback(doc, expected):
        return []
    if doc.get("_deleted") and expected is None and not doc.get("_conflicts"):
        return []  # nothing to give, nothing there
    restore_feedback(couch, couch_db, doc_id, expected)
    body = _without_attachments(doc)
    return [_quarantine(couch_db, body, "forged_feedback",
                        "Nhận xét của người duyệt bị sửa trên điện thoại; đã khôi phục bản "
                        "của máy chủ và giữ lại bản bị sửa để kiểm tra.",
                        "The reviewer's feedback was changed on the phone; the server's "
                        "version is restored and the changed one kept for inspection.")]


def handle_change(couch_db: str, change: dict, couch: Couch, store: IngestStore,
                  photos: PhotoStore, limits: Limits) -> list[Outcome | Unvalidated]:
    """One change in, its outcomes out; nothing for what the ingest skips."""
    doc_id = change.get("id", "")
    doc = change.get("doc")
    if "unreadable" in change:
        rev = first_rev(change)
        return [_too_deep(couch_db, {"_id": doc_id, "_rev": rev,
                                     "excerpt": change["unreadable"]})]
    if doc is not None and nested_deeper_than(doc, KEPT_DEPTH):
        return [_too_deep(couch_db, _cut(doc, KEPT_DEPTH))]
    if doc is not None and doc_id.startswith(FEEDBACK_PREFIX):
        return check_feedback(couch_db, doc, couch, store)
    if doc_id.startswith("_design/") or doc is None:
        return []
    if doc.get("_deleted"):
        # A photo the volunteer removed must leave the review; other deletions
        # (a discarded draft) leave nothing to undo.
        if doc_id.startswith("photo:"):
            return [PhotoDeleted(couch_db, _key_text(doc_id), _key_text(doc.get("_rev", "")))]
        return []
    kind = doc.get("type")
    if not DOC_ID.match(doc_id) or not doc_id.startswith(f"{kind}:"):
        return [_quarantine(couch_db, doc, "bad_id",
                            "Mã tài liệu không đúng dạng survey:… hoặc photo:….",
                            "The document id is not of the form survey:… or photo:….")]
    if kind == "survey":
        if doc.get("_conflicts"):
            return handle_conflicted_survey(couch_db, doc, couch, store)
        return [handle_survey(couch_db, doc, store)]
    if kind == "photo":
        return [handle_photo(couch_db, doc, couch, photos, limits)]
    return [_quarantine(couch_db, doc, "unknown_type", "Loại tài liệu không xác định.",
                        "Unknown document type.", type=kind)]


def _too_deep(couch_db: str, body: dict) -> Quarantined:
    """A document nested deeper than any form's answers can be (JSON readers give up
    at about a thousand levels, and a page nests a few more around it): kept, cut."""
    return _quarantine(couch_db, body, "too_deep",
                       "Tài liệu lồng nhau quá sâu; đã giữ lại (đã cắt bớt) để kiểm tra.",
                       "The document is nested too deeply; kept (cut short) for "
                       "inspection.")


def _handled(couch_db: str, change: dict, couch: Couch, store: IngestStore,
             photos: PhotoStore, limits: Limits) -> list[Outcome | Unvalidated]:
    """`handle_change`, with an unexpected error recorded as a quarantine, not thrown."""
    try:
        return handle_change(couch_db, change, couch, store, photos, limits)
    except CouchError as err:
        if err.status is None or err.status >= 500 or isinstance(err, AdminRefused):
            raise
        # CouchDB refuses this document's parts for good (e.g. an attachment it
        # cannot serve): record it, do not retry it forever.
        return [_quarantine(couch_db, _body_of(change), "couch_refused",
                            "Máy chủ đồng bộ từ chối đọc tài liệu này; đã giữ lại để kiểm tra.",
                            "The sync server refuses to serve this document; kept for "
                            "inspection.", status=err.status, error=str(err)[:300])]
    except (StoreUnavailable, OSError):
        raise
    except Exception as err:
        log.exception("ingest: error handling %s in %s", change.get("id"), couch_db)
        return [_internal_error(couch_db, _body_of(change), repr(err)[:500])]


def _body_of(change: dict) -> dict:
    """What a change's quarantine keeps: its document (or its id), without attachments."""
    return _without_attachments(change.get("doc") or {"_id": change.get("id", "")})


def _internal_error(couch_db: str, body: dict, error: str) -> Quarantined:
    return _quarantine(couch_db, body, "internal_error",
                       "Lỗi máy chủ khi xử lý tài liệu này; đã giữ lại để kiểm tra.",
                       "Server error while handling this document; kept for inspection.",
                       error=error)


def _apply_one_by_one(store: IngestStore, couch_db: str, outcomes: list[Outcome],
                      last_seq: Any) -> list[Outcome]:
    """Apply each outcome alone; one that still fails is stored as a quarantine instead.

    The checkpoint moves with the last outcome, so a crash here replays the
    page, and the replay is idempotent.
    """
    applied: list[Outcome] = []
    for index, outcome in enumerate(outcomes):
        seq = last_seq if index == len(outcomes) - 1 else store.checkpoint(couch_db)
        try:
            store.apply(couch_db, [outcome], seq)
            applied.append(outcome)
            continue
        except (CouchError, StoreUnavailable, OSError):
            raise
        except Exception as err:
            error = repr(err)[:500]
        doc = getattr(outcome, "doc", None) or getattr(outcome, "body", None) or {
            "_id": getattr(outcome, "doc_id", "")}
        replacement = _quarantine(couch_db, _storable(doc), "unstorable",
                                  "Không lưu được tài liệu này vào cơ sở dữ liệu; đã giữ lại "
                                  "để kiểm tra.",
                                  "This document could not be stored in the database; kept "
                                  "for inspection.", error=error)
        store.apply(couch_db, [replacement], seq)
        applied.append(replacement)
    if not outcomes:
        store.apply(couch_db, [], last_seq)
    return applied


def _storable(doc: Any) -> dict:
    """A JSON body any SQL database takes: NUL characters replaced, non-JSON values as
    text, nesting cut at `KEPT_DEPTH` levels (JSON readers and writers give up at
    about a thousand, and a phone's document can be deeper)."""
    text = json.dumps(_cut(doc, KEPT_DEPTH), default=str, ensure_ascii=True)
    body = json.loads(text.replace("\\u0000", "\\ufffd"))
    return body if isinstance(body, dict) else {"value": body}


CUT = "… (nested too deeply)"


def _cut(value: Any, depth: int) -> Any:
    """`value` with whatever lies more than `depth` levels down replaced by `CUT`."""
    if not isinstance(value, dict | list | tuple):
        return value
    if depth <= 0:
        return CUT
    if isinstance(value, dict):
        return {key: _cut(item, depth - 1) for key, item in value.items()}
    return [_cut(item, depth - 1) for item in value]


def _handle_page(couch: Couch, store: IngestStore, photos: PhotoStore, couch_db: str,
                 limits: Limits, page: ChangesPage) -> list[Outcome | Unvalidated]:
    return [outcome for change in page.results
            for outcome in _handled(couch_db, change, couch, store, photos, limits)]


def _start_validation(validator: Validator, outcomes: list[Outcome | Unvalidated]) -> Pending:
    return validator.start([(outcome.form, outcome.doc["answers"]) for outcome in outcomes
                            if isinstance(outcome, Unvalidated)])


def _validated(outcomes: list[Outcome | Unvalidated], results: list) -> list[Outcome]:
    """The outcomes with each survey's validation results in place, in order."""
    waiting = sum(1 for outcome in outcomes if isinstance(outcome, Unvalidated))
    if len(results) != waiting:
        raise ValueError(f"{len(results)} validation results for {waiting} surveys")
    given = iter(results)
    done: list[Outcome] = []
    for outcome in outcomes:
        if not isinstance(outcome, Unvalidated):
            done.append(outcome)
            continue
        result = next(given)
        if isinstance(result, str):  # validation raised: kept for inspection
            body = _without_attachments(outcome.doc)
            done.append(_internal_error(outcome.couch_db, body, result[len(FAILED):]))
        else:
            done.append(SurveyRevision(outcome.couch_db, outcome.doc, result))
    return done


def _commit_page(couch: Couch, store: IngestStore, couch_db: str,
                 outcomes: list[Outcome | Unvalidated], last_seq: Any,
                 validation: Pending) -> None:
    """Store one page's outcomes (with their validation, once it is done) and its
    checkpoint; write back the merges the page planned."""
    outcomes = _validated(outcomes, validation())
    try:
        store.apply(couch_db, outcomes, last_seq)
    except (CouchError, StoreUnavailable, OSError):
        raise
    except Exception as err:  # one unstorable outcome must not stall the database
        log.warning("ingest: page of %s not storable as a whole (%s); one by one", couch_db, err)
        outcomes = _apply_one_by_one(store, couch_db, outcomes, last_seq)
    if any(isinstance(outcome, MergeNeeded) for outcome in outcomes):
        write_back_merges(couch, store)


class _ReadAhead:
    """The pages of one database's `_changes` from `since`, each read while the
    caller handles the one before: reading and handling overlap.

    Reads go through the client's `reader()`, in a daemon thread, at most
    `depth` pages ahead. The pages come in order and each starts at the
    previous one's `last_seq`, so handling them in order and committing each
    page's `last_seq` with its rows is exactly what reading them one at a time
    did; a page read ahead but not yet committed is read again after a crash.

    The reading thread does not parse a page before asking for the next: it
    reads where the next starts off the end of the reply (`RawChanges.next_since`)
    and the caller's thread parses it. CouchDB works on the next page while
    the last one is parsed, instead of waiting for it. If the parsed page ends
    elsewhere than the thread assumed, what it read since is dropped and reading
    starts again from the page's own `last_seq`. Where the thread cannot tell,
    it parses the page itself, as before.
    """

    def __init__(self, couch: Couch, couch_db: str, since: Any, page_size: int,
                 depth: int = 2) -> None:
        self._couch, self._couch_db, self._page_size, self._depth = (couch, couch_db,
                                                                     page_size, depth)
        self._reading(since)

    def _reading(self, since: Any) -> None:
        """Start a reading thread from `since`, with a queue and a stop of its own."""
        self._pages: queue.Queue = queue.Queue(maxsize=self._depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True,
                                        args=(self._couch.reader(), since, self._pages,
                                              self._stop),
                                        name=f"read-ahead {self._couch_db}")
        self._thread.start()

    def _read(self, reader: Couch, since: Any, pages: queue.Queue,
              stop: threading.Event) -> None:
        while not stop.is_set():
            following: Any = END
            try:
                item: ChangesPage | tuple[RawChanges, Any] | BaseException
                raw = reader.changes_raw(self._couch_db, since, self._page_size)
                following = raw.next_since()
                if following is UNSURE:
                    item = reader.parse_changes(raw)
                    following = item.last_seq if item.results else END
                else:
                    item = (raw, following)
            except BaseException as err:  # handed to the caller, who decides
                item, following = err, END
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if following is END:
                return
            since = following

    def __iter__(self) -> Iterator[ChangesPage]:
        try:
            while True:
                item = self._pages.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple):
                    raw, assumed = item
                    page = self._couch.parse_changes(raw)
                    actual = page.last_seq if page.results else END
                    if actual is not assumed and actual != assumed:
                        # The thread read on from the wrong place: start again.
                        self._stop.set()
                        if actual is not END:
                            self._reading(actual)
                else:
                    page = item
                if not page.results:
                    return
                yield page
        finally:
            self._stop.set()


class _Committer:
    """Commits handled pages in a thread of its own while the caller handles the next one.

    Pages are committed one at a time, in the order given, each with its own
    checkpoint: what `_commit_page` did in the caller's thread. After a failure
    nothing later is committed (a later checkpoint would skip the failed
    page's changes); the caller gets the error at its next `submit`, `drain`
    or at `close`, and the ingest retries from the last committed page.
    """

    def __init__(self, store: IngestStore) -> None:
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(store.thread_context(),),
                                        daemon=True, name="ingest committer")
        self._thread.start()

    def _run(self, context: AbstractContextManager) -> None:
        with context:
            while True:
                job = self._jobs.get()
                try:
                    if job is None:
                        return
                    if self._error is None:
                        job()
                except BaseException as err:  # handed to the caller, who decides
                    self._error = err
                finally:
                    self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait until everything submitted is committed; raise what failed."""
        self._jobs.join()
        self._raise()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


def _reads_store(page: ChangesPage) -> bool:
    """Whether handling this page reads what earlier pages store: feedback
    checks and merges look at reviews and at revisions the server holds."""
    return any(change.get("id", "").startswith(FEEDBACK_PREFIX)
               or (change.get("doc") or {}).get("_conflicts") for change in page.results)


IN_PROCESS = InProcess()


def ingest_db(couch: Couch, store: IngestStore, photos: PhotoStore, couch_db: str,
              limits: Limits, page_size: int = PAGE_SIZE,
              validator: Validator = IN_PROCESS) -> int:
    """Drain one database from its checkpoint; return the number of changes handled.

    Four things overlap: the next page is read (`_ReadAhead`), this page is
    handled here, its surveys are validated (by `validator`, in a process of
    its own if it is an `OwnProcess`), the page before is committed
    (`_Committer`, after its validation is done). A page whose handling reads
    the store waits until the pages before it are committed, and a page that
    planned merges is committed (and its merges written back) before the next
    one is handled.
    """
    handled = 0
    committer = _Committer(store)
    try:
        for page in _ReadAhead(couch, couch_db, store.checkpoint(couch_db), page_size):
            if _reads_store(page):
                committer.drain()
            outcomes = _handle_page(couch, store, photos, couch_db, limits, page)
            validation = _start_validation(validator, outcomes)
            committer.submit(functools.partial(_commit_page, couch, store, couch_db, outcomes,
                                               page.last_seq, validation))
            if any(isinstance(outcome, MergeNeeded) for outcome in outcomes):
                committer.drain()
            handled += len(page.results)
        committer.drain()
    finally:
        committer.close()
    return handled


def ingest_dbs(couch: Couch, store: IngestStore, photos: PhotoStore, limits: Limits,
               dbs: list[str], page_size: int = PAGE_SIZE,
               validator: Validator = IN_PROCESS) -> int:
    """Drain the given databases; return the number of changes handled.

    A database whose reading stopped the CouchDB-API server (PouchDB Server
    dies on some broken revision trees) gets a strike; after `STRIKES_TO_HOLD`
    in a row it is held and skipped, and the others go on being read.
    """
    total = write_back_merges(couch, store)
    troubles = store.troubles() if dbs else {}
    dbs = [couch_db for couch_db in dbs if not troubles.get(couch_db)]
    if dbs:
        couch.server_info()  # up before the first read: a stop during one is that one's
    failed: list[str] = []
    for couch_db in dbs:
        try:
            total += ingest_db(couch, store, photos, couch_db, limits, page_size, validator)
        except AdminRefused:
            raise  # no database can be read: not this one's fault
        except CouchError as err:
            if err.status is None and not _answers(couch):
                _strike(store, couch_db, err)
                raise CouchError(None, f"the server stopped while {couch_db} was read") from err
            # One database CouchDB cannot serve must not hold up the others.
            log.warning("ingest: %s skipped this turn: %s", couch_db, err)
            failed.append(couch_db)
            continue
        if couch_db in troubles:
            store.clear(couch_db)
    if failed and len(failed) == len(dbs):
        raise CouchError(None, f"no volunteer database could be read ({len(failed)})")
    return total


# Stops of the server in a row while one database was read before it is held: one
# could be a coincidence (a restart), two on the same database are not.
STRIKES_TO_HOLD = 2


def _answers(couch: Couch) -> bool:
    try:
        couch.server_info()
        return True
    except CouchError:
        return False


def _strike(store: IngestStore, couch_db: str, err: CouchError) -> None:
    held = store.strike(couch_db, str(err)[:500])
    if held:
        log.error("ingest: %s is held: the CouchDB-API server stopped while reading it "
                  "%d times in a row; the other databases go on. Check it, then "
                  "`sotay ingest release %s`", couch_db, STRIKES_TO_HOLD, couch_db)
    else:
        log.warning("ingest: the CouchDB-API server stopped while %s was read (%s)",
                    couch_db, err)


def ingest_all(couch: Couch, store: IngestStore, photos: PhotoStore, limits: Limits,
               page_size: int = PAGE_SIZE, validator: Validator = IN_PROCESS) -> int:
    """Drain every volunteer database once; return the number of changes handled."""
    return ingest_dbs(couch, store, photos, limits, store.volunteer_dbs(), page_size,
                      validator)


class ChangedDatabases:
    """Which volunteer databases may have new changes, as cheaply as the server allows.

    CouchDB 3 with `_global_changes` has `_db_updates`: a longpoll on it names
    the databases written to. PouchDB Server has none; there the sync gateway
    leaves a mark in SQL on every write a phone makes, and the store reports
    the marked databases. Either way a periodic full sweep (`sweep_seconds`)
    catches anything written past both, e.g. straight into CouchDB.
    """

    def __init__(self, couch: Couch, store: IngestStore, sweep_seconds: float) -> None:
        self.couch = couch
        self.store = store
        self.sweep_seconds = sweep_seconds
        self.updates_since: Any = "now"
        self.has_db_updates: bool | None = None
        self.marks_after: Any = None
        self.last_sweep = -math.inf

    def next(self, wait_seconds: float) -> tuple[list[str], bool]:
        """(databases to read, whether this call already waited for news)."""
        if time.monotonic() - self.last_sweep >= self.sweep_seconds:
            self.last_sweep = time.monotonic()
            # Start following before the sweep so nothing written during it is missed.
            self._db_updates(0)
            self.marks_after = self.store.touched_since(None)[1]
            return self.store.volunteer_dbs(), False
        if self.has_db_updates is not False:
            names = self._db_updates(int(wait_seconds * 1000))
            if names is not None:
                wanted = set(self.store.volunteer_dbs())
                return sorted(name for name in names if name in wanted), True
        dbs, self.marks_after = self.store.touched_since(self.marks_after)
        return dbs, False

    def _db_updates(self, timeout_ms: int) -> set[str] | None:
        if self.has_db_updates is False:
            return None
        page = self.couch.db_updates(self.updates_since, timeout_ms)
        self.has_db_updates = page is not None
        if page is None:
            return None
        self.updates_since = page.last_seq
        return {row.get("db_name", "") for row in page.results}


def follow(couch: Couch, store: IngestStore, photos: PhotoStore, limits: Limits,
           stop: threading.Event, poll_seconds: float = 1.0,
           sweep_seconds: float = 300.0, validator: Validator = IN_PROCESS,
           page_size: int = PAGE_SIZE) -> None:
    """Keep ingesting until `stop` is set; an error is logged and retried from the checkpoint.

    A refused admin credential is not retried every second: that would lock
    the admin out of CouchDB for every process on the host. The worker waits
    until the client sends the credential again (`ADMIN_RETRY_SECONDS`).
    """
    changed = ChangedDatabases(couch, store, sweep_seconds)
    while not stop.is_set():
        waited = False
        try:
            dbs, waited = changed.next(poll_seconds)
            handled = ingest_dbs(couch, store, photos, limits, dbs, page_size, validator)
        except AdminRefused as err:
            log.error("ingest: %s", err)
            changed.last_sweep = -math.inf
            stop.wait(max(poll_seconds, err.seconds_left()))
            continue
        except CouchError as err:
            log.warning("ingest: CouchDB error, retrying from the checkpoint: %s", err)
            changed.last_sweep = -math.inf
            handled = 0
        except Exception:  # never die: log, wait, retry from the checkpoint
            log.exception("ingest: unexpected error, retrying from the checkpoint")
            changed.last_sweep = -math.inf
            handled = 0
        if not handled and not waited:
            stop.wait(poll_seconds)
