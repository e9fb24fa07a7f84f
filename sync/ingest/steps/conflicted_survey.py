"""Conflicted survey: edited on two phones (or a phone and the server). Every live
leaf is stored as a revision, and the field-by-field merge to write back is
planned (`sync.conflicts`); it is written once the page is committed."""

from __future__ import annotations

from sync.conflicts import live_leaves, plan_merge
from sync.ingest.outcomes import Handled, SurveyRevision, Unvalidated
from sync.ingest.steps.survey import check

NAME = "conflicted survey"


def accepts(change) -> bool:
    return change.doc.get("type") == "survey" and bool(change.doc.get("_conflicts"))


def run(change, context) -> list[Handled]:
    couch_db = change.couch_db
    leaves = live_leaves(context.couch, couch_db, change.id)
    outcomes: list[Handled] = [check(couch_db, leaf, context.store) for leaf in leaves]
    if len(leaves) > 1 and all(isinstance(o, SurveyRevision | Unvalidated) for o in outcomes):
        outcomes.append(plan_merge(context.couch, context.store, couch_db, leaves))
    return outcomes
