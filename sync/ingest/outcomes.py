"""What handling a change produces: the outcomes the store writes.

Every step of the ingest (`sync.ingest.steps`) turns a change into zero or
more of these. None of them is thrown: a change that cannot be accepted is a
`Quarantined` outcome with its reason, kept for inspection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from forms.submission import CompiledForm
from messages import say
from sync.conflicts import MergeNeeded

# Deeper documents are quarantined, cut to this depth: a form's answers nest a
# few levels, and JSON readers give up at about a thousand (with the reader's
# own calls on the stack, sometimes a little less).
KEPT_DEPTH = 64


@dataclass(frozen=True)
class SurveyRevision:
    couch_db: str
    doc: dict
    errors: list[dict]


@dataclass(frozen=True)
class PhotoReceived:
    couch_db: str
    doc: dict
    sha256: str
    mime: str
    width: int
    height: int
    phash: str
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoDeleted:
    """The volunteer deleted a photo document: its photo no longer documents the survey."""

    couch_db: str
    doc_id: str
    rev: str


@dataclass(frozen=True)
class Quarantined:
    couch_db: str
    doc_id: str
    rev: str
    code: str
    vi: str
    en: str
    body: dict
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Unvalidated:
    """A final survey whose validation is still to come (a `SurveyRevision` replaces it)."""

    couch_db: str
    doc: dict
    form: CompiledForm


Outcome = SurveyRevision | PhotoReceived | PhotoDeleted | Quarantined | MergeNeeded
Handled = Outcome | Unvalidated


class StoreUnavailable(Exception):
    """The relational store cannot be reached right now: retry later, quarantine nothing."""


def key_text(value: Any) -> str:
    """A document id or rev as a storable key: text without NUL, at most 200 characters.

    The full value stays in the quarantined body.
    """
    return str(value).replace("\x00", "\ufffd")[:200]


def without_attachments(doc: dict) -> dict:
    """A document's body as stored: its attachments are the photo store's."""
    return {key: value for key, value in doc.items() if key != "_attachments"}


def quarantine(couch_db: str, doc: dict, code: str, said: tuple[str, str],
               **detail: Any) -> Quarantined:
    """`doc` kept for inspection under `code`, with the reason `said` (Vietnamese,
    English: `reason` for the ingest's own, from the message catalogue)."""
    vi, en = said
    return Quarantined(couch_db, key_text(doc.get("_id", "")), key_text(doc.get("_rev", "")),
                       code, vi, en, doc, detail)


def reason(name: str, **params: Any) -> tuple[str, str]:
    """The ingest's reason `sync.quarantine.<name>` of the message catalogue."""
    return say(f"sync.quarantine.{name}", **params)


def internal_error(couch_db: str, body: dict, error: str) -> Quarantined:
    return quarantine(couch_db, body, "internal_error", reason("internal_error"), error=error)


def storable(doc: Any) -> dict:
    """A JSON body any SQL database takes: NUL characters replaced, non-JSON values as
    text, nesting cut at `KEPT_DEPTH` levels (JSON readers and writers give up at
    about a thousand, and a phone's document can be deeper)."""
    text = json.dumps(cut(doc, KEPT_DEPTH), default=str, ensure_ascii=True)
    body = json.loads(text.replace("\\u0000", "\\ufffd"))
    return body if isinstance(body, dict) else {"value": body}


CUT = "… (nested too deeply)"


def cut(value: Any, depth: int) -> Any:
    """`value` with whatever lies more than `depth` levels down replaced by `CUT`."""
    if not isinstance(value, dict | list | tuple):
        return value
    if depth <= 0:
        return CUT
    if isinstance(value, dict):
        return {key: cut(item, depth - 1) for key, item in value.items()}
    return [cut(item, depth - 1) for item in value]
