"""Serves photo derivatives (never originals, never metadata) to those allowed to see them."""

from __future__ import annotations

import re

from flask import Blueprint, Response

from server.actions.photos import derivative_for
from server.errors import problem
from server.views.session import current_actor

bp = Blueprint("media", __name__, url_prefix="/media")

SHA256 = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("thumbnail", "preview")


@bp.get("/<sha256>/<kind>.jpg")
def derivative(sha256: str, kind: str) -> Response:
    if not SHA256.match(sha256) or kind not in KINDS:
        raise problem("not_found")
    data = derivative_for(current_actor(), sha256, kind)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    response.headers["Content-Disposition"] = f'inline; filename="{sha256[:16]}-{kind}.jpg"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
