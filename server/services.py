"""Wiring of the services views and actions use: the CouchDB client and the photo store.

Registered once in the app factory with svcs and fetched where needed, so a
test can swap one without touching the code that uses it.
"""

from __future__ import annotations

import svcs
from flask import Flask

from media.store import FileStore, PhotoStore
from sync.couch import Couch


def init_app(app: Flask) -> None:
    svcs.flask.init_app(app)
    svcs.flask.register_value(app, Couch, Couch.from_url(app.config["COUCHDB_URL"]),
                              enter=False)
    svcs.flask.register_value(app, PhotoStore, FileStore(app.config["MEDIA_ROOT"]),
                              enter=False)


def couch() -> Couch:
    return svcs.flask.get(Couch)


def photo_store() -> PhotoStore:
    return svcs.flask.get(PhotoStore)
