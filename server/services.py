"""Wiring of the services views and actions use: the CouchDB client, the photo
store and the password hasher (whose bound on hashes at once is per process).

Registered once in the app factory with svcs and fetched where needed, so a
test can swap one without touching the code that uses it.
"""

from __future__ import annotations

import svcs
from flask import Flask

from media.store import FileStore, PhotoStore
from server.passwords import PasswordHasher
from sync.couch import Couch


def init_app(app: Flask) -> None:
    svcs.flask.init_app(app)
    svcs.flask.register_value(app, Couch, Couch.from_url(app.config["COUCHDB_URL"]),
                              enter=False)
    svcs.flask.register_value(app, PhotoStore, FileStore(app.config["MEDIA_ROOT"]),
                              enter=False)
    svcs.flask.register_value(app, PasswordHasher,
                              PasswordHasher(app.config["LOGIN_HASHES_AT_ONCE"]),
                              enter=False)


def couch() -> Couch:
    return svcs.flask.get(Couch)


def photo_store() -> PhotoStore:
    return svcs.flask.get(PhotoStore)


def passwords() -> PasswordHasher:
    return svcs.flask.get(PasswordHasher)
