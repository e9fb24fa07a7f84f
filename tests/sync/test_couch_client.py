"""The CouchDB client (sync/couch.py) against PouchDB Server: what every call shares."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote

import requests

from sync.couch import Couch


def test_an_admin_with_a_vietnamese_password_can_make_every_call(couch_server):
    """CouchDB reads basic credentials as UTF-8; `requests` would send Latin-1 (other
    bytes for `ä`, an error for `ậ`). Every way the client talks to CouchDB sends UTF-8:
    the SDK, `requests` (the session check, open_revs, `_db_updates`) and the pool."""
    name, password = "quản-trị", "mật khẩu ä"
    admins = f"{couch_server.base}/_config/admins/{quote(name, safe='')}"
    owner = (couch_server.admin, couch_server.password)
    assert requests.put(admins, data=json.dumps(password), auth=owner, timeout=10).ok
    try:
        client = Couch(couch_server.base, name, password)
        client.ensure_admin()  # finds itself admin: it would otherwise try to create itself
        db = f"vi-admin-{uuid.uuid4().hex[:8]}"
        client.ensure_db(db)
        photo = base64.b64encode(b"not really a jpeg").decode()
        client.bulk_write(db, [{"_id": "photo:a", "_attachments": {
            "p.jpg": {"content_type": "image/jpeg", "data": photo}}}])
        assert [change["id"] for change in client.changes(db, None, 10).results] == ["photo:a"]
        (leaf,) = client.open_revs(db, "photo:a")
        assert client.attachment(db, "photo:a", "p.jpg", leaf["_rev"]) == b"not really a jpeg"
        assert client.db_updates(None, 10) is None  # PouchDB Server has none: not a 401
        client.delete_db(db)
    finally:
        requests.delete(admins, auth=owner, timeout=10)
