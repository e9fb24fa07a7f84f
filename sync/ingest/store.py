"""What the ingest needs from the relational side, in two narrow parts.

`IngestStore` is what handling and committing one database's changes use;
`DatabaseQueue` says which databases have news and hands each to one worker
at a time. `server/ingest_store.py` implements both over SQL;
`sync.ingest.memory` implements them in memory for fast tests of the steps.
Every method may be called from any of the ingest's threads.
"""

from __future__ import annotations

from typing import Any, Protocol

from forms.submission import CompiledForm
from sync.conflicts import MergeStore
from sync.ingest.outcomes import Outcome


class IngestStore(MergeStore, Protocol):
    def checkpoint(self, couch_db: str) -> Any:
        """Where the ingest stopped reading `couch_db`'s changes (None: at the start)."""
        ...

    def form(self, form_id: str, version: str) -> CompiledForm | None:
        """The form version, compiled; None if it is not published."""
        ...

    def expected_feedback(self, couch_db: str, survey_id: str) -> dict | None:
        """The fields of the feedback the server gives this survey, or None."""
        ...

    def apply(self, couch_db: str, outcomes: list[Outcome], last_seq: Any) -> None:
        """Store a page's outcomes and the new checkpoint, in one transaction.

        Raises `LeaseLost` if `couch_db` was claimed through the queue and another
        worker has taken it since: nothing is stored then.
        """
        ...


class LeaseLost(Exception):
    """Another worker holds the database now (this one stalled past its lease)."""


class DatabaseQueue(Protocol):
    def volunteer_dbs(self) -> list[str]:
        """Every volunteer database, for a full sweep."""
        ...

    def notice(self, couch_dbs: list[str]) -> None:
        """These databases may have changes no one has read yet."""
        ...

    def claim(self, limit: int) -> list[str]:
        """Up to `limit` databases with news, leased to this worker alone (none held,
        none another worker holds)."""
        ...

    def done(self, couch_db: str) -> None:
        """A claimed database was read to its end: its news up to the claim is read,
        the lease is given back, its strikes are forgotten."""
        ...

    def give_back(self, couch_db: str, retry_seconds: float) -> None:
        """A claimed database could not be read: no worker claims it again for
        `retry_seconds`, and its news stay unread."""
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

    def sweep_due(self, every_seconds: float) -> bool:
        """Whether this worker should sweep every database now: true for one worker
        at a time, once per `every_seconds`."""
        ...

    def recover(self) -> list[str]:
        """Give back the leases of workers on this machine that are no longer
        running (a worker killed and started again takes its work back at once,
        not after the lease runs out); return the databases given back."""
        ...

    def report(self, mode: str, detail: str = "") -> None:
        """This worker is alive, following news in `mode` (for /healthz); keeps
        its leases from running out."""
        ...
