"""Write marks: the sync gateway's word to the ingest that a volunteer database
has new documents.

Each mark bumps the database's count of news in the ingest's queue
(`server.queries.ingest_queue.touch_dbs`); a worker claims databases whose
news it has not read yet. So a mark must not be lost, or the database waits
for the worker's full sweep (5 minutes by default). A phone's request never
waits on SQL for it: the gateway notes the database here, and one thread of
this process writes every mark noted since its last write in one
transaction. A write that fails (SQLite's "database is locked" after its
busy timeout, SQL unreachable) keeps its marks and tries again, so a lock
delays a mark and never loses it.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask

from server.errors import DATABASE_UNAVAILABLE
from server.queries.ingest_queue import touch_dbs
from server.transaction import transacting

log = logging.getLogger(__name__)

# Marks noted within this long of a write go in the next one: a few writes a
# second however many phones sync at once.
BATCH_SECONDS = 0.2
RETRY_SECONDS = 1.0


class WriteMarks:
    """The marks of one web process, noted by request threads, written by a thread of its own."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._pending: set[str] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def note(self, couch_db: str) -> None:
        with self._wake:
            self._pending.add(couch_db)
            # A forked web worker (e.g. gunicorn's) inherits no threads: start its own.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="write-marks",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        failures = 0
        while True:
            with self._wake:
                self._wake.wait_for(lambda: bool(self._pending))
                marks, self._pending = self._pending, set()
            try:
                self._write(marks)
            except Exception as err:  # kept and tried again: the thread must not die
                with self._wake:
                    self._pending |= marks
                failures += 1
                if failures == 1:  # once per spell of failures, not once a second
                    log.warning("sync: write marks of %d database(s) not saved yet, retrying: "
                                "%s", len(marks), str(err).splitlines()[0][:200],
                                exc_info=not isinstance(err, DATABASE_UNAVAILABLE))
                time.sleep(RETRY_SECONDS)
                continue
            if failures:
                log.warning("sync: write marks saved after %d failed tries", failures)
                failures = 0
            time.sleep(BATCH_SECONDS)

    def _write(self, marks: set[str]) -> None:
        with self.app.app_context(), transacting():
            touch_dbs(marks)
