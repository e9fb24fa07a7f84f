"""The CouchDB client (sync/couch.py) against PouchDB Server: what every call shares."""

from __future__ import annotations

import base64
import uuid

from sync.couch import Couch


def test_an_admin_with_a_vietnamese_password_can_make_every_call(couch_server):
    """CouchDB reads basic credentials as UTF-8; `requests` would send Latin-1 (other
    bytes for `ä`, an error for `ậ`). Every way the client talks to CouchDB sends UTF-8:
    the SDK, `requests` (the session check, open_revs, `_db_updates`) and the pool."""
    # CouchDB 3 takes only ASCII names in its configuration ("Invalid configuration key").
    name = "quản-trị" if couch_server.kind == "pouchdb" else "quan-tri"
    password = "mật khẩu ä"
    owner = (couch_server.admin, couch_server.password)
    assert couch_server.client().add_admin(name, password, auth=owner)
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
        # PouchDB Server has none (None, not a 401); CouchDB 3 a page.
        assert (client.db_updates(None, 10) is None) == (couch_server.kind == "pouchdb")
        client.delete_db(db)
    finally:
        couch_server.client().remove_admin(name)
