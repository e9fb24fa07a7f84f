"""The same household or enterprise surveyed twice: detection at ingest, settling by reviewers.

Detection (`sync.duplicates`) runs when a final survey arrives; each likely
pair is listed for reviewers, who settle it: the same subject surveyed twice
(the newer survey is rejected as a duplicate, its data kept), a revisit in a
later phase (the two are linked), or two different subjects.
"""

from __future__ import annotations

from flask import current_app

from server.actions.auth import Actor, require_role
from server.errors import problem
from server.models import Submission
from server.queries.audit import audit
from server.queries.duplicates import (
    duplicate_candidates,
    get_pair,
    open_pairs,
    save_pair,
    submissions_by_doc_ids,
    unchecked_submissions,
)
from server.queries.submissions import add_review
from sync.duplicates import DuplicateRules, find_duplicates

SETTLEMENTS = ("same", "revisit", "different")


def _as_doc(submission: Submission, subject: str) -> dict:
    return {"_id": submission.doc_id, "answers": submission.answers,
            "created_at": submission.visited_at, "gps": submission.gps, "subject": subject}


def _rules() -> DuplicateRules:
    return DuplicateRules(phases=tuple(current_app.config.get("PHASES", ())))


def check_new_surveys(batch: int = 200) -> int:
    """Check the final surveys not yet checked for duplicates; return how many were checked.

    Runs beside the ingest (the worker calls it in its loop), off the ingest's
    critical path: comparing with every survey of a residential group costs
    more than storing one.
    """
    pending = unchecked_submissions(batch)
    for submission in pending:
        detect_duplicates(submission)
        submission.duplicates_checked_rev = submission.rev
    return len(pending)


def detect_duplicates(submission: Submission) -> int:
    """Record the likely duplicates of one final survey; return how many."""
    subject = "enterprise" if submission.form_id == "enterprise" else "household"
    candidates = [_as_doc(c, subject) for c in duplicate_candidates(submission)]
    matches = find_duplicates(_as_doc(submission, subject), candidates, _rules())
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
    pair.state = {"same": "merged", "revisit": "linked", "different": "dismissed"}[settlement]
    pair.decided_by = actor.username
    if settlement == "same":
        surveys = submissions_by_doc_ids({pair.doc_id, pair.other_doc_id})
        newer = max(surveys.values(), key=lambda s: (s.visited_at or "", s.id))
        older = next(s for s in surveys.values() if s is not newer)
        newer.review_state = "rejected"
        add_review(submission_id=newer.id, rev=newer.rev, reviewer=actor.username,
                   decision="rejected",
                   comment=f"Trùng với khảo sát {older.doc_id} / duplicate of {older.doc_id}")
    audit(actor.username, f"duplicate.{settlement}", f"{pair.doc_id}~{pair.other_doc_id}")
