"""The ingest's store and queue in memory: what the steps' fast tests run against.

It keeps what `apply` is given as it is given (the SQL store's merging of
revisions into submissions is not repeated here), one worker's queue, and
nothing across processes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from forms.submission import CompiledForm, compile_form
from sync.conflicts import MergeNeeded, PendingMerge
from sync.ingest.databases import STRIKES_TO_HOLD
from sync.ingest.outcomes import Outcome, SurveyRevision
from sync.ingest.store import LeaseLost


@dataclass
class MemoryStore:
    forms: dict[tuple[str, str], CompiledForm] = field(default_factory=dict)
    feedback: dict[tuple[str, str], dict] = field(default_factory=dict)
    checkpoints: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    merges: dict[int, PendingMerge] = field(default_factory=dict)
    volunteers: list[str] = field(default_factory=list)
    news: dict[str, int] = field(default_factory=dict)  # database -> touches
    read: dict[str, int] = field(default_factory=dict)
    leases: dict[str, tuple[int, float]] = field(default_factory=dict)  # claimed touches, until
    strikes: dict[str, int] = field(default_factory=dict)
    lease_seconds: float = 60.0
    reports: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, definition: dict) -> None:
        self.forms[(definition["id"], definition["version"])] = compile_form(definition)

    # -- IngestStore ----------------------------------------------------------

    def checkpoint(self, couch_db: str) -> Any:
        return self.checkpoints.get(couch_db)

    def form(self, form_id: str, version: str) -> CompiledForm | None:
        return self.forms.get((form_id, version))

    def expected_feedback(self, couch_db: str, survey_id: str) -> dict | None:
        return self.feedback.get((couch_db, survey_id))

    def apply(self, couch_db: str, outcomes: list[Outcome], last_seq: Any) -> None:
        with self._lock:
            if couch_db in self.leases and self.leases[couch_db][1] < time.monotonic():
                raise LeaseLost(couch_db)
            for outcome in outcomes:
                if isinstance(outcome, MergeNeeded):
                    key = len(self.merges) + 1
                    self.merges[key] = PendingMerge(
                        key, outcome.couch_db, outcome.doc_id, outcome.leaf_revs,
                        outcome.merged, outcome.winner_rev, outcome.losing_revs)
            self.outcomes.extend(outcomes)
            self.checkpoints[couch_db] = last_seq

    # -- MergeStore -----------------------------------------------------------

    def revision_body(self, couch_db: str, doc_id: str, rev: str) -> dict | None:
        return next((o.doc for o in self.outcomes if isinstance(o, SurveyRevision)
                     and o.couch_db == couch_db and o.doc["_id"] == doc_id
                     and o.doc.get("_rev") == rev), None)

    def known_revisions(self, couch_db: str, doc_id: str) -> set[str]:
        return {o.doc.get("_rev") for o in self.outcomes if isinstance(o, SurveyRevision)
                and o.couch_db == couch_db and o.doc["_id"] == doc_id}

    def merge_ancestry(self, couch_db: str, doc_id: str) -> dict[str, set[str]]:
        return {}

    def pending_merges(self) -> list[PendingMerge]:
        return list(self.merges.values())

    def finish_merge(self, key: Any, state: str, merged_rev: str | None) -> None:
        self.merges.pop(key, None)

    # -- DatabaseQueue --------------------------------------------------------

    def volunteer_dbs(self) -> list[str]:
        return list(self.volunteers)

    def notice(self, couch_dbs: list[str]) -> None:
        with self._lock:
            for name in couch_dbs:
                if name in self.volunteers:
                    self.news[name] = self.news.get(name, 0) + 1

    def claim(self, limit: int) -> list[str]:
        now = time.monotonic()
        with self._lock:
            free = [name for name, touches in self.news.items()
                    if touches > self.read.get(name, 0)
                    and self.strikes.get(name, 0) < STRIKES_TO_HOLD
                    and (name not in self.leases or self.leases[name][1] < now)][:limit]
            for name in free:
                self.leases[name] = (self.news[name], now + self.lease_seconds)
            return free

    def done(self, couch_db: str) -> None:
        with self._lock:
            claimed, _until = self.leases.pop(couch_db)
            self.read[couch_db] = claimed

    def give_back(self, couch_db: str, retry_seconds: float) -> None:
        with self._lock:
            claimed, _until = self.leases.pop(couch_db)
            if retry_seconds:
                self.leases[couch_db] = (claimed, time.monotonic() + retry_seconds)

    def troubles(self) -> dict[str, bool]:
        return {name: count >= STRIKES_TO_HOLD for name, count in self.strikes.items()}

    def strike(self, couch_db: str, reason: str) -> bool:
        self.strikes[couch_db] = self.strikes.get(couch_db, 0) + 1
        return self.strikes[couch_db] >= STRIKES_TO_HOLD

    def clear(self, couch_db: str) -> None:
        self.strikes.pop(couch_db, None)

    def sweep_due(self, every_seconds: float) -> bool:
        return False

    def recover(self) -> list[str]:
        return []

    def report(self, mode: str, detail: str = "") -> None:
        self.reports.append((mode, detail))
