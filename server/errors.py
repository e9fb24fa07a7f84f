"""The errors the server answers with, and how they are shown.

Each problem has a stable code (HTTP status, a dot, a number, as in ODK
Central), a Vietnamese and an English sentence; both live in the message
catalogue (messages/catalogue.json) as `server.<key>` with the code as `http`.
The API and the sync gateway answer `{"error": {"code", "vi", "en", "detail"}}`;
pages show both sentences.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError

from messages import catalogue, say
from server.models import db

log = logging.getLogger(__name__)


@dataclass
class Problem(Exception):
    code: str
    vi: str
    en: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return int(self.code.split(".")[0])

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "vi": self.vi, "en": self.en}
        if self.detail:
            body["detail"] = self.detail
        return body


# SQL errors that say the database cannot be reached, not that a statement is wrong.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def problem(key: str, **detail: Any) -> Problem:
    """The problem `server.<key>` of the message catalogue; a sentence may name a
    figure of the detail (a size limit, an address)."""
    code = f"server.{key}"
    return Problem(catalogue()[code]["http"], *say(code, **detail), detail)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/sync/", "/healthz")) or (
        request.accept_mimetypes.best == "application/json")


def _render(err: Problem) -> Response:
    if _wants_json():
        response = jsonify(error=err.as_dict())
    else:
        response = Response(render_template("error.html", error=err), mimetype="text/html")
    response.status_code = err.status
    response.headers.update(problem_headers(err))
    return response


def problem_headers(err: Problem) -> dict[str, str]:
    """HTTP headers that go with a problem's answer (when to try again)."""
    seconds = err.detail.get("retry_after_seconds")
    return {} if seconds is None else {"Retry-After": str(seconds)}


def _database_unavailable(err: Exception) -> Response:
    log.warning("database unavailable: %s", str(err).splitlines()[0][:300])
    db.session.rollback()
    return _render(problem("database_unavailable"))


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, _render)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, _database_unavailable)
    app.register_error_handler(404, lambda _e: _render(problem("not_found")))
