"""Draining one database: read its changes page by page, handle, validate, commit.

Modelled on CHT's sentinel feed: read the checkpoint, read `_changes` from
it, hand each change to the steps (`sync.ingest.steps`), and give the
outcomes of a whole page to the store, which commits them together with the
new checkpoint in one transaction. A crash at any point therefore replays
the pages not yet committed (at most a few: one read ahead, one being
validated, one waiting to be committed), and the store's writes are
idempotent (keyed by database, document and revision), so nothing is lost
and nothing doubled.

Reading, handling, validating and committing overlap: `ReadAhead` reads the
next page, the caller's thread handles this one, the `Validator`
(sync/validation.py: in the caller's thread on two cores, else in a process
of its own) validates its surveys, `Committer` commits the page before, in
order, once that page's validation is done.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from media.pipeline import Limits
from media.store import PhotoStore
from sync.conflicts import MergeNeeded, write_back_merges
from sync.couch import END, UNSURE, ChangesPage, Couch, CouchError, RawChanges
from sync.ingest.outcomes import (
    Handled,
    Outcome,
    StoreUnavailable,
    SurveyRevision,
    Unvalidated,
    internal_error,
    quarantine,
    reason,
    storable,
    without_attachments,
)
from sync.ingest.steps import Context, handle_rows
from sync.ingest.store import IngestStore, LeaseLost
from sync.provision import FEEDBACK_PREFIX
from sync.validation import FAILED, InProcess, Pending, Validator

log = logging.getLogger("sync.ingest")

# Changes per page. Each page costs a few fixed round trips and a commit; at
# 300 the 5,000-survey ingest in bench/bench_sync.py runs about a third faster
# than at 100. A page with photos takes longer to handle (each is fetched and
# processed), and a crash repeats at most the few pages in flight.
PAGE_SIZE = 300

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
        except (CouchError, StoreUnavailable, LeaseLost, OSError):
            raise
        except Exception as err:
            error = repr(err)[:500]
        doc = getattr(outcome, "doc", None) or getattr(outcome, "body", None) or {
            "_id": getattr(outcome, "doc_id", "")}
        replacement = quarantine(couch_db, storable(doc), "unstorable", reason("unstorable"),
                                 error=error)
        store.apply(couch_db, [replacement], seq)
        applied.append(replacement)
    if not outcomes:
        store.apply(couch_db, [], last_seq)
    return applied


def _start_validation(validator: Validator, outcomes: list[Handled]) -> Pending:
    return validator.start([(outcome.form, outcome.doc["answers"]) for outcome in outcomes
                            if isinstance(outcome, Unvalidated)])


def _validated(outcomes: list[Handled], results: list) -> list[Outcome]:
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
            body = without_attachments(outcome.doc)
            done.append(internal_error(outcome.couch_db, body, result[len(FAILED):]))
        else:
            done.append(SurveyRevision(outcome.couch_db, outcome.doc, result))
    return done


def _commit_page(couch: Couch, store: IngestStore, couch_db: str,
                 outcomes: list[Handled], last_seq: Any,
                 validation: Pending) -> None:
    """Store one page's outcomes (with their validation, once it is done) and its
    checkpoint; write back the merges the page planned."""
    outcomes = _validated(outcomes, validation())
    try:
        store.apply(couch_db, outcomes, last_seq)
    except (CouchError, StoreUnavailable, LeaseLost, OSError):
        raise
    except Exception as err:  # one unstorable outcome must not stall the database
        log.warning("ingest: page of %s not storable as a whole (%s); one by one", couch_db, err)
        outcomes = _apply_one_by_one(store, couch_db, outcomes, last_seq)
    if any(isinstance(outcome, MergeNeeded) for outcome in outcomes):
        write_back_merges(couch, store)


class ReadAhead:
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


class Committer:
    """Commits handled pages in a thread of its own while the caller handles the next one.

    Pages are committed one at a time, in the order given, each with its own
    checkpoint: what `_commit_page` did in the caller's thread. After a failure
    nothing later is committed (a later checkpoint would skip the failed
    page's changes); the caller gets the error at its next `submit`, `drain`
    or at `close`, and the ingest retries from the last committed page.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="ingest committer")
        self._thread.start()

    def _run(self) -> None:
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

    Four things overlap: the next page is read (`ReadAhead`), this page is
    handled here, its surveys are validated (by `validator`, in a process of
    its own if it is an `OwnProcess`), the page before is committed
    (`Committer`, after its validation is done). A page whose handling reads
    the store waits until the pages before it are committed, and a page that
    planned merges is committed (and its merges written back) before the next
    one is handled.
    """
    handled = 0
    context = Context(couch, store, photos, limits)
    committer = Committer()
    try:
        for page in ReadAhead(couch, couch_db, store.checkpoint(couch_db), page_size):
            if _reads_store(page):
                committer.drain()
            outcomes = handle_rows(page.results, couch_db, context)
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


