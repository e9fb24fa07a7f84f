"""The retry budget of background work: how often a failed item is tried again,
and what an administrator sees and does about the ones that used it up."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from server.actions.auth import Actor, require_role
from server.queries.audit import audit
from server.queries.jobs import forget, job_counts, list_jobs, record_failure, retry_jobs

log = logging.getLogger(__name__)

# Attempts before an item waits for an administrator, and the pauses between them:
# 30 s, 1 min, 2 min … at most an hour (about 4 hours in all).
MAX_ATTEMPTS = 8
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def failed(kind: str, key: str, what: str, error: str) -> None:
    """Count a failed attempt at one item (`what` names it in the log)."""
    job = record_failure(kind, key, error, MAX_ATTEMPTS, FIRST_WAIT, LONGEST_WAIT)
    if job.state == "failed":
        log.error("%s: %s failed %d times, left for an administrator (`sotay jobs "
                  "retry`): %s", kind, what, job.attempts, error[:300])
    else:
        log.warning("%s: %s failed (attempt %d of %d, next after %s): %s", kind, what,
                    job.attempts, MAX_ATTEMPTS, job.run_after.isoformat(timespec="seconds"),
                    error[:300])


def succeeded(kind: str, key: str) -> None:
    forget(kind, key)


def jobs_report(actor: Actor, state: str | None = None) -> list[dict[str, Any]]:
    require_role(actor, "admin")
    return [{"id": job.id, "kind": job.kind, "key": job.key, "state": job.state,
             "attempts": job.attempts, "last_error": job.last_error,
             "run_after": job.run_after.isoformat() + "Z",
             "updated_at": job.updated_at.isoformat() + "Z"} for job in list_jobs(state)]


def retry(actor: Actor, job_id: int | None) -> int:
    """Give failed items a fresh budget, due now; return how many."""
    require_role(actor, "admin")
    count = retry_jobs(job_id)
    audit(actor.username, "jobs.retried", str(job_id or "all"), count=count)
    return count


def counts() -> dict[str, int]:
    return job_counts()
