"""Following: learn which databases have news, and drain them, until stopped.

News reach the queue three ways. The sync gateway marks every database a
phone writes to (on any server). CouchDB 3 with `_global_changes` also names
the databases written to in `_db_updates`, including writes made past the
gateway; each worker follows it and notices them. And a full sweep, by one
worker at a time every `sweep_seconds`, notices every volunteer database,
so nothing written past both waits longer than that.

Any number of workers may follow at once, on one machine or several: the
queue leases each database with news to one of them, a lease is renewed
while its worker lives (`report`, from a thread of its own) and runs out
when it dies, and then another worker takes the database over from its last
committed page.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from media.pipeline import Limits
from media.store import PhotoStore
from sync.couch import AdminRefused, Couch, CouchError
from sync.ingest.databases import ingest_claimed
from sync.ingest.pipeline import IN_PROCESS, PAGE_SIZE
from sync.ingest.store import DatabaseQueue, IngestStore
from sync.validation import Validator

log = logging.getLogger("sync.ingest")

# Modes a worker reports (/healthz): how it learns of writes made past the gateway.
DB_UPDATES = "db_updates"  # CouchDB 3's `_db_updates` feed, and the gateway's marks
MARKS = "marks"  # the server has no `_db_updates` (PouchDB Server): marks and sweeps
RETRYING = "marks, db_updates retrying"  # `_db_updates` failed: marks until it answers

# Back-off after a failed `_db_updates` call: 1, 2, 4 … seconds, at most this.
RETRY_MAX_SECONDS = 60.0

# Databases one worker claims at a time: few, so that others share the work.
CLAIM_BATCH = 4

# How often a worker says it is alive and renews its leases.
REPORT_SECONDS = 5.0


class News:
    """What tells one worker of databases with news, and in which mode it is."""

    def __init__(self, couch: Couch, queue: DatabaseQueue, sweep_seconds: float) -> None:
        self.couch, self.queue, self.sweep_seconds = couch, queue, sweep_seconds
        self.since: Any = "now"
        self.mode, self.detail = MARKS, "starting"
        self.failures = 0
        self.retry_at = 0.0  # when `_db_updates` is asked again (monotonic time)

    def gather(self, wait_seconds: float) -> bool:
        """Notice what is new (waiting up to `wait_seconds` on `_db_updates` when it
        is followed); return whether this call waited."""
        if self.queue.sweep_due(self.sweep_seconds):
            if self.mode == MARKS:
                self.retry_at = 0.0  # a server may have gained `_db_updates` since
            self._follow(0)  # start following before the sweep: nothing in between is missed
            self.queue.notice(self.queue.volunteer_dbs())
            return False
        names = self._follow(int(wait_seconds * 1000))
        if names is None:
            return False
        if names:
            self.queue.notice(sorted(names))
        return True

    def _follow(self, timeout_ms: int) -> set[str] | None:
        """The databases `_db_updates` names since the last call, or None when it is
        not followed now."""
        if time.monotonic() < self.retry_at:
            return None
        try:
            page = self.couch.db_updates(self.since, timeout_ms)
        except AdminRefused:
            raise
        except CouchError as err:
            self.failures += 1
            wait = min(RETRY_MAX_SECONDS, 2.0 ** (self.failures - 1))
            self.retry_at = time.monotonic() + wait
            self._enter(RETRYING, f"_db_updates failed ({str(err)[:200]}); "
                                  f"retry in {wait:.0f} s")
            return None
        if page is None:
            self.retry_at = time.monotonic() + self.sweep_seconds
            self._enter(MARKS, "no _db_updates on this server (PouchDB Server, or CouchDB "
                                "without its _global_changes database)")
            return None
        self.failures = 0
        self._enter(DB_UPDATES, "")
        self.since = page.last_seq
        return {row.get("db_name", "") for row in page.results}

    def _enter(self, mode: str, detail: str) -> None:
        if mode != self.mode or (mode == RETRYING and self.failures == 1):
            level = logging.WARNING if mode == RETRYING else logging.INFO
            log.log(level, "ingest: following %s%s", mode, f" ({detail})" if detail else "")
        self.mode, self.detail = mode, detail


def _reporting(queue: DatabaseQueue, news: News, stop: threading.Event) -> threading.Thread:
    """A thread that reports the worker alive (and renews its leases) until `stop`."""
    def run() -> None:
        while True:
            try:
                queue.report(news.mode, news.detail)
            except Exception as err:  # the store away: said by the main loop too
                log.debug("ingest: report failed: %s", err)
            if stop.wait(REPORT_SECONDS):
                return
    thread = threading.Thread(target=run, daemon=True, name="ingest report")
    thread.start()
    return thread


def _recover(queue: DatabaseQueue) -> None:
    try:
        given_back = queue.recover()
    except Exception as err:  # the store away: the leases run out on their own
        log.warning("ingest: could not take back a stopped worker's databases: %s", err)
        return
    if given_back:
        log.info("ingest: took back %d database(s) a stopped worker on this machine held",
                 len(given_back))


def follow(couch: Couch, store: IngestStore, photos: PhotoStore, limits: Limits,
           stop: threading.Event, poll_seconds: float = 1.0,
           sweep_seconds: float = 300.0, validator: Validator = IN_PROCESS,
           page_size: int = PAGE_SIZE, queue: DatabaseQueue | None = None) -> None:
    """Keep ingesting until `stop` is set; an error is logged and retried from the checkpoint.

    `queue` is the store itself where not given. A refused admin credential is
    not retried every second: that would lock the admin out of CouchDB for every
    process on the host. The worker waits until the client sends the credential
    again (`ADMIN_RETRY_SECONDS`).
    """
    queue = queue if queue is not None else store  # type: ignore[assignment]
    news = News(couch, queue, sweep_seconds)
    _recover(queue)
    _reporting(queue, news, stop)  # ends with `stop`
    while not stop.is_set():
        try:
            claimed, _handled = ingest_claimed(couch, store, queue, photos, limits,
                                               CLAIM_BATCH, page_size, validator)
            if claimed:
                news.gather(0)
            elif not news.gather(poll_seconds):
                stop.wait(poll_seconds)
        except AdminRefused as err:
            log.error("ingest: %s", err)
            stop.wait(max(poll_seconds, err.seconds_left()))
        except CouchError as err:
            log.warning("ingest: CouchDB error, retrying from the checkpoint: %s", err)
            stop.wait(poll_seconds)
        except Exception:  # never die: log, wait, retry from the checkpoint
            log.exception("ingest: unexpected error, retrying from the checkpoint")
            stop.wait(poll_seconds)
