"""The same household or enterprise surveyed twice: detection beside the ingest, settling
by reviewers.

Detection (`sync.duplicates`) runs after a final survey is stored, off the
ingest's path: the worker's background loop calls `check_new_surveys`, which
takes the final surveys whose current revision has not been checked yet, a
batch at a time. Each likely pair is listed for reviewers, who settle it:
the same subject surveyed twice (the newer survey is rejected as a duplicate,
its data kept), a revisit in a later phase (the two are linked), or two
different subjects.
"""

from __future__ import annotations

import logging

from flask import current_app

from messages import both
from server.actions import jobs
from server.actions.auth import Actor, require_role
from server.errors import DATABASE_UNAVAILABLE, problem
from server.models import Submission, db
from server.queries.audit import audit
from server.queries.duplicates import (
    get_pair,
    keyed_candidates,
    open_pairs,
    save_keys,
    save_pair,
    settle_pair,
    submissions_by_doc_ids,
    unchecked_submissions,
)
from server.queries.submissions import add_review, set_review_state
from sync.duplicates import DuplicateRules, find_matches, match_keys, search_box

log = logging.getLogger(__name__)

SETTLEMENTS = ("same", "revisit", "different")

# Surveys checked per call. The worker commits after each call and calls again at
# once while there are more: on SQLite the database is locked for writing from a
# call's first write to its commit, and the ingest must not wait long for it.
CHECK_BATCH = 20


def _as_doc(submission: Submission, subject: str) -> dict:
    return {"_id": submission.doc_id, "answers": submission.answers,
            "created_at": submission.visited_at, "gps": submission.gps, "subject": subject}


def _rules() -> DuplicateRules:
    return DuplicateRules(phases=tuple(current_app.config.get("PHASES", ())))


def check_new_surveys(batch: int = CHECK_BATCH) -> int:
    """Check final surveys not yet checked for duplicates; return how many were checked.

    Runs beside the ingest (the worker calls it in its loop and commits after
    each call), off the ingest's critical path.
    """
    pending = unchecked_submissions(batch)
    rules = _rules()
    for index, submission in enumerate(pending):
        try:
            detect_duplicates(submission, rules)
        except DATABASE_UNAVAILABLE:
            raise  # nobody's fault: the whole turn is tried again
        except Exception as err:
            # One survey the check fails on must not stop every later one: the
            # batch so far is undone (it is checked again next turn) and this one
            # waits, less and less often (`server.actions.jobs`).
            log.exception("duplicates: checking %s failed", submission.doc_id)
            key, doc_id = str(submission.id), submission.doc_id
            db.session.rollback()
            jobs.failed("duplicates", key, f"duplicate check of {doc_id}", repr(err))
            return index
    return len(pending)


def detect_duplicates(submission: Submission, rules: DuplicateRules | None = None) -> int:
    """Store one final survey's keys and record its likely duplicates; return how many.

    The survey's keys are worked out once, here; its candidates come with
    theirs, looked up by key, so the cost does not grow with the number of
    surveys nor with the length of what they hold.
    """
    rules = rules or _rules()
    subject = "enterprise" if submission.form_id == "enterprise" else "household"
    keys = match_keys(_as_doc(submission, subject))
    save_keys(submission, keys)
    candidates = keyed_candidates(submission, keys, search_box(keys, rules))
    matches = find_matches(keys, candidates, rules)
    for match in matches:
        save_pair(submission.doc_id, match.candidate_id, match.kind,
                  [{"code": r.code, "vi": r.vi, "en": r.en} for r in match.reasons],
                  match.distance_m)
    return len(matches)


def _summary(submission: Submission | None) -> dict:
    if submission is None:
        return {}
    answers = submission.answers
    return {"id": submission.id, "doc_id": submission.doc_id, "volunteer": submission.volunteer,
            "residential_group": submission.residential_group,
            "name": answers.get("head_name") or answers.get("name"),
            "address": answers.get("address"), "tax_code": answers.get("tax_code"),
            "visited_at": submission.visited_at, "review_state": submission.review_state}


def duplicate_list(actor: Actor) -> list[dict]:
    require_role(actor, "reviewer")
    pairs = open_pairs()
    surveys = submissions_by_doc_ids({p.doc_id for p in pairs} | {p.other_doc_id for p in pairs})
    return [{"id": p.id, "kind": p.kind, "reasons": p.reasons, "distance_m": p.distance_m,
             "first": _summary(surveys.get(p.doc_id)),
             "second": _summary(surveys.get(p.other_doc_id))} for p in pairs]


def settle(actor: Actor, pair_id: int, settlement: str) -> None:
    require_role(actor, "reviewer")
    if settlement not in SETTLEMENTS:
        raise problem("invalid_input", field="settlement", allowed=list(SETTLEMENTS))
    pair = get_pair(pair_id)
    if pair is None:
        raise problem("not_found")
    settle_pair(pair, {"same": "merged", "revisit": "linked", "different": "dismissed"}[settlement],
                actor.username)
    if settlement == "same":
        surveys = submissions_by_doc_ids({pair.doc_id, pair.other_doc_id})
        newer = max(surveys.values(), key=lambda s: (s.visited_at or "", s.id))
        older = next(s for s in surveys.values() if s is not newer)
        set_review_state(newer.id, newer.rev, "rejected")
        add_review(submission_id=newer.id, rev=newer.rev, reviewer=actor.username,
                   decision="rejected",
                   comment=both("server.duplicates.duplicate_of", doc_id=older.doc_id))
    audit(actor.username, f"duplicate.{settlement}", f"{pair.doc_id}~{pair.other_doc_id}")
