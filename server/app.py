"""The Flask application factory."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from server import errors, schema, services, transaction
from server.config import DEFAULTS, LOGIN_DEFAULTS, build_config
from server.models import db


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(build_config() if test_config is None else test_config)
    for key, value in {**DEFAULTS, **LOGIN_DEFAULTS}.items():
        app.config.setdefault(key, value)
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["SESSION_HOURS"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config["SECURE_COOKIES"]),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
    )
    logging.getLogger("ibmcloudant").setLevel(logging.ERROR)
    db.init_app(app)
    services.init_app(app)
    errors.init_app(app)
    _one_transaction_per_request(app)

    from server.views import api, app_shell, gateway, health, media, pages, security

    for module in (api, app_shell, health, media, pages):
        app.register_blueprint(module.bp)
    security.init_app(app)
    app.wsgi_app = gateway.SyncGateway(app, app.wsgi_app)
    if proxies := app.config["TRUSTED_PROXIES"]:
        # The client's address (for login limits) and scheme, as the proxy saw them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    from server.cli import register_commands

    register_commands(app)
    with app.app_context():
        schema.upgrade(db.engine)  # under a lock: every process of the server runs this
    return app


def _one_transaction_per_request(app: Flask) -> None:
    """Commit what a request wrote if it succeeded, roll back otherwise; views never commit."""

    @app.after_request
    def _commit(response: Response) -> Response:
        transaction.end(ok=response.status_code < 400)
        return response

    @app.teardown_request
    def _rollback(exc: BaseException | None) -> None:
        if exc is not None:
            transaction.end(ok=False)
