"""The audit log: every state change, who made it and when."""

from __future__ import annotations

from typing import Any

from server.models import AuditEntry, db


def audit(actor: str, action: str, target: str, **detail: Any) -> None:
    db.session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))
