"""JSON API: the phone's session, and lists reviewers read."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from server.actions import reviews
from server.actions.logins import authenticate
from server.errors import problem
from server.models import User
from server.views.schemas import LoginSchema, load
from server.views.session import current_actor, current_user, log_in, log_out

bp = Blueprint("api", __name__, url_prefix="/api")


def _user_json(user: User) -> dict:
    return {"user": {"username": user.username, "role": user.role, "db": user.couch_db,
                     "residential_group": user.residential_group,
                     "full_name": user.full_name}}


@bp.post("/session")
def create_session():
    data = load(LoginSchema(), request.get_json(silent=True))
    user = authenticate(data["username"], data["password"], request.remote_addr or "")
    log_in(user)
    return jsonify(_user_json(user))


@bp.get("/session")
def get_session():
    user = current_user()
    if user is None:
        raise problem("login_required")
    return jsonify(_user_json(user))


@bp.delete("/session")
def delete_session():
    log_out()
    return jsonify(ok=True)


@bp.get("/quarantine")
def quarantine():
    return jsonify(items=reviews.quarantine_list(current_actor()))


@bp.get("/submissions")
def submissions():
    items = reviews.review_queue(current_actor())
    return jsonify(items=[{**i, "received_at": i["received_at"].isoformat()} for i in items])
