"""Serves the volunteer's phone app (PWA) at `/app`.

The app's own files live in `server/static/app/`; the two libraries it runs
on come from the npm packages the project installs (PouchDB's browser build
and json-logic-js), and the custom rule operators from the forms package, so
the phone evaluates the very rules the server does; its sentences from the
message catalogue, so it says what the server says.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

import forms
import messages
from server.errors import problem

bp = Blueprint("app_shell", __name__)

STATIC = Path(__file__).resolve().parent.parent / "static" / "app"
VENDOR = {
    "pouchdb.min.js": "pouchdb/dist/pouchdb.min.js",
    "logic.js": "json-logic-js/logic.js",
}
FORMS_DIR = Path(forms.__file__).resolve().parent


def _no_store(response: Response) -> Response:
    # The service worker decides what to cache; the browser's HTTP cache must
    # not serve a stale app shell after an update.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/app")
@bp.get("/app/")
def index() -> Response:
    return _no_store(send_from_directory(STATIC, "index.html"))


@bp.get("/app/vendor/<name>")
def vendor(name: str) -> Response:
    if name not in VENDOR:
        raise problem("not_found")
    path = Path(current_app.config["NODE_MODULES"]) / VENDOR[name]
    return _no_store(send_from_directory(path.parent, path.name, mimetype="text/javascript"))


@bp.get("/app/rules.js")
def rules() -> Response:
    return _no_store(send_from_directory(FORMS_DIR, "rules.js", mimetype="text/javascript"))


@bp.get("/app/messages.json")
def messages_json() -> Response:
    """The sentences the phone shows, from the one catalogue."""
    return _no_store(jsonify(messages.for_phone()))


@bp.get("/app/sw.js")
def service_worker() -> Response:
    response = send_from_directory(STATIC, "sw.js", mimetype="text/javascript")
    # The worker's scope is `/app`, so that the README's address opens offline too.
    response.headers["Service-Worker-Allowed"] = "/app"
    return _no_store(response)


@bp.get("/app/<path:name>")
def asset(name: str) -> Response:
    return _no_store(send_from_directory(STATIC, name))
