"""Reads for the health check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text

from server.models import Checkpoint, db


def sql_ping() -> None:
    db.session.execute(text("SELECT 1"))


def latest_checkpoint_at() -> datetime | None:
    """When the ingest last committed a page of any database."""
    return db.session.execute(select(func.max(Checkpoint.updated_at))).scalar_one()
