"""CouchDB itself enforces what provisioning set up, independently of the gateway."""

from __future__ import annotations

import secrets

import requests

from sync.couch import userdb_name
from sync.provision import FORMS_DB, provision_volunteer


def test_volunteer_database_admits_only_its_owner(couch_server):
    couch = couch_server.client()
    provision_volunteer(couch, "an-prov", "pw-an-123456")
    provision_volunteer(couch, "binh-prov", "pw-binh-123456")
    own = f"{couch_server.base}/{userdb_name('an-prov')}"
    assert requests.get(own, auth=("an-prov", "pw-an-123456"), timeout=5).status_code == 200
    assert requests.get(own, timeout=5).status_code == 401
    # CouchDB 3 answers 403 to a non-member, PouchDB Server 401: refused either way.
    assert requests.get(own, auth=("binh-prov", "pw-binh-123456"),
                        timeout=5).status_code in (401, 403)


def test_forms_are_read_only_for_volunteers(couch_server, app):
    couch = couch_server.client()
    provision_volunteer(couch, "chi-prov", "pw-chi-123456")
    forms = f"{couch_server.base}/{FORMS_DB}"
    auth = ("chi-prov", "pw-chi-123456")
    assert requests.get(f"{forms}/_all_docs", auth=auth, timeout=5).status_code == 200
    refused = requests.put(f"{forms}/form:x:1", json={"type": "form"}, auth=auth, timeout=5)
    assert refused.status_code == 403
    assert requests.get(f"{forms}/_all_docs", timeout=5).status_code == 401


def test_provisioning_twice_is_harmless(couch_server):
    couch = couch_server.client()
    first = provision_volunteer(couch, "dung-prov", "pw-dung-123456")
    second = provision_volunteer(couch, "dung-prov", "pw-dung-654321")
    assert first == second == userdb_name("dung-prov")
    db = f"{couch_server.base}/{first}"
    assert requests.get(db, auth=("dung-prov", "pw-dung-654321"), timeout=5).status_code == 200


def test_replicated_writes_land_in_a_volunteer_database(couch_server):
    """Phones push with new_edits=false; nothing in provisioning may drop those writes."""
    couch = couch_server.client()
    # A name of its own: a CouchDB 3 server given by URL may keep an earlier run's data.
    db = provision_volunteer(couch, f"em-prov-{secrets.token_hex(4)}", "pw-em-123456")
    first = couch.put(db, {"_id": "survey:1", "type": "survey", "v": 1})
    start, digest = first.split("-")
    leaf = {"_id": "survey:1", "type": "survey", "v": 2, "_rev": f"2-{'c' * 32}",
            "_revisions": {"start": 2, "ids": ["c" * 32, digest]}}
    couch.bulk_write(db, [leaf], new_edits=False)
    assert couch.get(db, "survey:1")["v"] == 2
