"""`/healthz`: the state of CouchDB, SQL and the ingest lag, as JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify

from server.actions.health import health_report

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    report = health_report()
    return jsonify(report), 200 if report["ok"] else 503
