"""Health of the parts: CouchDB reachable, SQL answering, how far the ingest lags,
and whether the embedded PouchDB Server has open files to spare for every
volunteer's database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from messages import say
from server import services
from server.actions.auth import Actor, require_role
from server.config import embedded_couch_dir
from server.errors import problem
from server.models import utcnow
from server.queries.audit import audit
from server.queries.health import latest_checkpoint_at, sql_ping
from server.queries.ingest import clear_db, held_databases
from server.queries.ingest_queue import live_workers, pending_summary
from server.queries.jobs import job_counts
from server.queries.users import count_volunteer_dbs, volunteer_by_db
from sync import embedded
from sync.couch import CouchError

# Warn once the volunteers' databases take this share of what the limit allows.
ROOM_WARNING_SHARE = 0.8


def database_room(files: embedded.OpenFiles) -> dict[str, Any]:
    """How many volunteer databases PouchDB Server's open-files limit leaves room
    for, against how many there are, with a warning in Vietnamese and English
    when they near it (`state`: ok, near, full)."""
    volunteers = count_volunteer_dbs()
    room = files.room_for
    state = ("full" if volunteers >= room else
             "near" if volunteers >= ROOM_WARNING_SHARE * room else "ok")
    report: dict[str, Any] = {"state": state, "volunteer_databases": volunteers,
                              "room_for": room, "open_files_limit": files.limit}
    if files.open is not None:
        report["open_files"] = files.open
    if state != "ok":
        report["vi"], report["en"] = say("server.health.pouchdb_room", room=room,
                                         limit=files.limit, volunteers=volunteers)
    return report


def health_report() -> dict[str, Any]:
    report: dict[str, Any] = {"ok": True}
    try:
        sql_ping()
        report["sql"] = {"ok": True}
    except Exception as err:  # the point of a health check is to report any failure
        report["sql"] = {"ok": False, "error": type(err).__name__}
        report["ok"] = False
        return report
    couch = services.couch()
    try:
        info = couch.server_info()
        report["couchdb"] = {"ok": True, "version": info.get("version")}
    except CouchError as err:
        report["couchdb"] = {"ok": False, "error": f"status {err.status or 'unreachable'}"}
        report["ok"] = False
        return report
    pending = pending_summary()
    oldest = pending["oldest"]
    latest = latest_checkpoint_at()
    report["ingest"] = {
        # Databases the gateway, `_db_updates` or a sweep said have news no worker
        # has read yet: quiet databases count for nothing, whatever their seqs.
        "lag_databases": pending["databases"],
        "oldest_unread_seconds": round((utcnow() - oldest).total_seconds(), 1)
        if oldest is not None else 0,
        "last_checkpoint_at": latest.isoformat() + "Z" if latest else None,
        "workers": workers_report(),
        "held_databases": held_list(),
        # Feedback deliveries and duplicate checks that failed: being retried, or
        # waiting for an administrator (`sotay jobs`).
        "jobs": {"retrying": 0, "failed": 0, **job_counts()}}
    if current_app.config.get("COUCHDB_EMBEDDED"):
        files = embedded.open_files(embedded_couch_dir(current_app.config))
        if files is not None:
            room = report["couchdb"]["databases"] = database_room(files)
            report["ok"] = room["state"] != "full"
    return report


# A worker that has not reported for this long is taken for dead (it reports every
# few seconds while it lives).
WORKER_SILENT_SECONDS = 30.0


def workers_report() -> list[dict[str, Any]]:
    """The ingest workers alive, each with how it learns of new writes."""
    now = utcnow()
    return [{"id": row.id, "host": row.host, "pid": row.pid, "mode": row.mode,
             "detail": row.detail, "started_at": row.started_at.isoformat() + "Z",
             "seen_seconds_ago": round((now - row.seen_at).total_seconds(), 1)}
            for row in live_workers(now - timedelta(seconds=WORKER_SILENT_SECONDS))]


def held_list() -> list[dict[str, Any]]:
    """The volunteer databases the ingest and the gateway leave alone, and why."""
    return [{"couch_db": row.couch_db, "volunteer": getattr(volunteer_by_db(row.couch_db),
                                                            "username", None),
             "held_at": row.held_at.isoformat() + "Z", "strikes": row.strikes,
             "reason": row.reason} for row in held_databases()]


def release_database(actor: Actor, couch_db: str) -> None:
    """Let the ingest and the phone at a held database again (after it was checked)."""
    require_role(actor, "admin")
    if not clear_db(couch_db):
        raise problem("not_found", couch_db=couch_db)
    audit(actor.username, "database.released", couch_db)
