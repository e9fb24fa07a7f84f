"""Validating the ingest's surveys, in the ingest's process or in one of its own.

Validation is pure CPU work on a page's answers. In the ingest's own process
it holds the interpreter lock that reading the next page and committing the
previous one need too, so the three steps take turns instead of overlapping.
`OwnProcess` validates a page in a separate process while the ingest reads
and commits; `InProcess` validates on the spot, in the ingest's thread.

Which is faster depends on the cores. On two, the validation process shares
them with CouchDB, PostgreSQL and the worker, and sending a page (pickling it
both ways, the executor's threads waking each other) costs more than it
frees: with the worker's 1 ms switch interval (`tune_for_ingest`), the
sync bench's ingest took less time in process (bench/RESULTS.md). So the
worker validates in process on one or two cores, in a process of its own on
more (where that process can have a core to itself; not measured here, the
machines of this project have two),
and in a process of its own on SQLite with two cores or more (`validator_for`).

Either way a page's validation is started when the page has been handled
and its results are taken just before the page is committed. A survey whose
validation raises gets `FAILED` with the error instead of its errors (the
ingest quarantines it). If the process dies while it validates a page, that
page is validated in the ingest's process instead; a page sent after its
death goes to a new process. No survey is lost and none is stored twice.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from forms.submission import CompiledForm, compile_form, validate_submission

log = logging.getLogger(__name__)

Work = list[tuple[CompiledForm, dict]]  # (form version, answers) per survey
Result = list[list[dict] | str]  # per survey: its errors, or why validation failed
Pending = Callable[[], Result]  # waits for a page's results
FAILED = "validation failed: "  # the start of a failure's text in `Result`

# Fewer surveys than this are validated on the spot: sending them costs more.
MIN_SENT = 20

# CPython looks for reference cycles after every 700 new containers. The
# ingest makes hundreds of thousands per page (each survey's answers read,
# checked and encoded again), nearly none in a cycle, so at that threshold the
# collector ran hundreds of times a page and walked the older objects too:
# about a quarter of the worker process's CPU while it ingested 5,000 surveys.
# The oldest generation keeps CPython's 10; a process running six such
# ingests peaked at 176 MB of memory with these thresholds and with CPython's.
INGEST_GC_THRESHOLDS = (50_000, 20, 10)

# How long a thread of the worker may hold the interpreter lock while another
# waits for it (CPython's default is 5 ms). The ingest's threads hand work to
# each other many times a page: the committer's SQL call returns and waits for
# the lock while the ingest's thread parses and validates, the reading thread
# waits with a reply in hand. Each wait sat on the path every page takes, up
# to the whole interval at a time; 1 ms was the fastest of the values
# measured (bench/RESULTS.md).
INGEST_SWITCH_SECONDS = 0.001


def tune_for_ingest() -> None:
    """Set this process for the ingest (the worker and its validation process):
    cycles are still collected, less often, and threads take turns sooner."""
    gc.set_threshold(*INGEST_GC_THRESHOLDS)
    sys.setswitchinterval(INGEST_SWITCH_SECONDS)


class Validator(Protocol):
    def start(self, work: Work) -> Pending: ...

    def warm(self) -> None:
        """Get ready now rather than on the first page."""
        ...

    def close(self) -> None: ...


def validate_all(work: Work) -> Result:
    """Each survey's errors as dicts, or the failure's text where validation raised."""
    results: Result = []
    for form, answers in work:
        try:
            results.append([error.as_dict() for error in validate_submission(form, answers)])
        except Exception as err:  # one survey's failure must not fail the page
            log.exception("validation failed")
            results.append(FAILED + repr(err)[:500])
    return results


class InProcess:
    """Validates when asked, in the caller's thread."""

    def start(self, work: Work) -> Pending:
        results = validate_all(work)
        return lambda: results

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass


def _leave_with_parent(parent: int) -> None:
    """In the validation process: exit once the ingest that started it is gone.

    The process is set as the worker is (`tune_for_ingest`). A
    killed ingest (kill -9, a crash) cannot say so, and the process's pipe
    from it never reports its end (the process holds a copy of both ends).
    Ctrl-C in a terminal reaches the whole process group: the ingest decides
    when this process stops, so it ignores it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_for_ingest()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent watch").start()


def _validate_sent(definitions: list[dict], work: list[tuple[int, dict]]) -> Result:
    """In the validation process: the form versions come as definitions (compiled
    once per process, `compile_form` caches them by content)."""
    forms = [compile_form(definition) for definition in definitions]
    return validate_all([(forms[index], answers) for index, answers in work])


class OwnProcess:
    """Validates pages in a process of its own, started when first needed.

    The process is spawned, not forked: the ingest runs threads, and a fork
    would copy whatever lock one of them held at that moment.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_leave_with_parent, initargs=(os.getpid(),))
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def start(self, work: Work) -> Pending:
        if len(work) < MIN_SENT:
            return InProcess().start(work)
        definitions: list[dict] = []
        index: dict[int, int] = {}  # id(form) -> its place in `definitions`
        for form, _answers in work:
            if id(form) not in index:
                index[id(form)] = len(definitions)
                definitions.append(form.defn)
        sent = [(index[id(form)], answers) for form, answers in work]
        future: Future | None = None
        for _attempt in range(2):
            pool = self._executor()
            try:
                future = pool.submit(_validate_sent, definitions, sent)
                break
            except BrokenProcessPool as err:  # it died since the last page: a new one
                log.warning("validation process lost (%r); starting another", err)
                self._discard(pool)
            except Exception as err:  # no process to send to: validate here
                log.warning("validation process unavailable (%r); validating here", err)
                self._discard(pool)
                break

        def results() -> Result:
            if future is not None:
                try:
                    return future.result()
                except (BrokenProcessPool, CancelledError) as err:
                    # The process died, or the page was dropped with a pool given up.
                    log.warning("validation process lost (%r); validating here", err)
                    self._discard(pool)
                except Exception as err:
                    # The page could not travel (e.g. answers nested too deep to
                    # pickle, which validation itself reports as too deep).
                    log.warning("page not validated in its process (%r); validating here",
                                err)
            return validate_all(work)
        return results

    def warm(self) -> None:
        """Start the process (spawning it and importing the forms take a moment)."""
        pool = self._executor()
        try:
            pool.submit(_validate_sent, [], []).result()
        except Exception as err:
            log.warning("validation process did not start (%r); the next page tries again", err)
            self._discard(pool)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def usable_cores() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        return os.cpu_count() or 1


# Cores above which the worker validates in a process of its own by default.
IN_PROCESS_UP_TO_CORES = 2


def validator_for(processes: int | None, sql_in_process: bool = False) -> Validator:
    """`OwnProcess` when asked for a process (None: when it may use more than
    `IN_PROCESS_UP_TO_CORES` cores, or more than one where the SQL database
    runs in the worker's own process, SQLite: there its work needs the
    worker's interpreter lock too, and on two cores the ingest into SQLite
    took 9% less time with validation in a process of its own, in
    alternating rounds)."""
    if processes is None:
        cores = usable_cores()
        processes = 1 if cores > IN_PROCESS_UP_TO_CORES or (sql_in_process and cores > 1) else 0
    return OwnProcess() if processes > 0 else InProcess()
