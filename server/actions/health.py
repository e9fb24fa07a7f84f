"""Health of the parts: CouchDB reachable, SQL answering, how far the ingest lags,
and whether the embedded PouchDB Server has open files to spare for every
volunteer's database."""

from __future__ import annotations

from typing import Any

from flask import current_app

from messages import say
from server import services
from server.actions.auth import Actor, require_role
from server.config import embedded_couch_dir
from server.errors import problem
from server.queries.audit import audit
from server.queries.health import checkpoints_by_db, sql_ping
from server.queries.ingest import clear_db, held_databases
from server.queries.users import active_volunteer_dbs, count_volunteer_dbs, volunteer_by_db
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


def _seq_number(seq: Any) -> int | None:
    """The numeric prefix of a seq: PouchDB's integers and CouchDB 3's 'N-opaque' both have one.

    Only used for a lag estimate shown to people, never to resume a feed.
    """
    head = str(seq).split("-", 1)[0]
    return int(head) if head.isdigit() else None


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
    checkpoints = checkpoints_by_db()
    held = held_list()
    held_dbs = {item["couch_db"] for item in held}
    lag = 0
    for couch_db in active_volunteer_dbs():
        if couch_db in held_dbs:
            continue
        try:
            head = _seq_number(couch.db_info(couch_db).get("update_seq"))
        except CouchError:
            continue
        done = _seq_number(checkpoints.get(couch_db, (0, None))[0]) or 0
        if head is not None:
            lag += max(0, head - done)
    latest = max((at for _seq, at in checkpoints.values()), default=None)
    report["ingest"] = {"lag_changes": lag,
                        "last_checkpoint_at": latest.isoformat() + "Z" if latest else None,
                        "held_databases": held}
    if current_app.config.get("COUCHDB_EMBEDDED"):
        files = embedded.open_files(embedded_couch_dir(current_app.config))
        if files is not None:
            room = report["couchdb"]["databases"] = database_room(files)
            report["ok"] = room["state"] != "full"
    return report


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
