"""Reads for the health check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from server.models import Checkpoint, db


def sql_ping() -> None:
    db.session.execute(text("SELECT 1"))


def checkpoints_by_db() -> dict[str, tuple[Any, datetime]]:
    """Each database's checkpoint seq and when it was written."""
    return {row.couch_db: (row.seq["seq"], row.updated_at) for row in db.session.execute(
        select(Checkpoint)).scalars()}
