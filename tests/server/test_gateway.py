"""The sync gateway forwards replication for one's own database and refuses the rest."""

from __future__ import annotations

import pytest

from server import services
from tests.conftest import body, log_in, make_account
from tests.server.helpers import household_answers, survey_doc


def test_volunteer_writes_and_reads_own_database(client, volunteer):
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    reply = client.put(f"/sync/{volunteer.couch_db}/{doc['_id']}", json=doc)
    assert reply.status_code == 201, reply.data
    back = body(client.get(f"/sync/{volunteer.couch_db}/{doc['_id']}"))
    assert back["answers"]["residential_group"] == "tdp03"
    changes = body(client.get(f"/sync/{volunteer.couch_db}/_changes?since=0"))
    assert doc["_id"] in [c["id"] for c in changes["results"]]


def test_doc_id_with_encoded_slash_stays_one_document(client, volunteer):
    log_in(client, volunteer)
    reply = client.put(f"/sync/{volunteer.couch_db}/survey%3Aa%2Fb",
                       json={"type": "survey", "status": "draft"})
    assert reply.status_code == 201, reply.data
    assert body(reply)["id"] == "survey:a/b"


def test_forms_are_readable_and_read_only(client, volunteer):
    log_in(client, volunteer)
    listing = body(client.get("/sync/forms/_all_docs"))
    ids = [row["id"] for row in listing["rows"]]
    assert "form:household:2026.1" in ids
    refused = client.put("/sync/forms/form:evil:1", json={"type": "form"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "403.3"
    assert client.post("/sync/forms/_bulk_docs", json={"docs": []}).status_code == 403


@pytest.mark.parametrize("path", ["_all_dbs", "_users", "_config", "_session", "_replicator",
                                  "_users/_all_docs", "_config/admins"])
def test_system_endpoints_are_refused(client, volunteer, path):
    log_in(client, volunteer)
    reply = client.get(f"/sync/{path}")
    assert reply.status_code == 403
    assert reply.get_json()["error"]["code"] == "403.2"


def test_other_volunteers_database_is_refused(app, client, volunteer):
    other = make_account(app, "volunteer", "tdp05")
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), status="draft")
    assert client.get(f"/sync/{other.couch_db}/").status_code == 403
    assert client.get(f"/sync/{other.couch_db}/_changes").status_code == 403
    assert client.put(f"/sync/{other.couch_db}/{doc['_id']}", json=doc).status_code == 403
    assert client.post(f"/sync/{other.couch_db}/_bulk_docs",
                       json={"docs": [doc]}).status_code == 403


@pytest.mark.parametrize("method,path", [
    ("GET", "_design/sotay"), ("PUT", "_design/evil"), ("GET", "_security"),
    ("PUT", "_security"), ("DELETE", ""), ("PUT", ""), ("POST", "_compact"),
])
def test_own_database_admin_paths_are_refused(client, volunteer, method, path):
    log_in(client, volunteer)
    reply = client.open(f"/sync/{volunteer.couch_db}/{path}", method=method, json={})
    assert reply.status_code == 403


def test_design_doc_through_bulk_docs_is_refused_by_couchdb(app, client, volunteer):
    log_in(client, volunteer)
    client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                json={"docs": [{"_id": "_design/evil", "views": {}}]})
    with app.app_context():
        assert services.couch().get_design(volunteer.couch_db, "evil") is None


def test_feedback_documents_cannot_be_forged_by_the_phone(client, volunteer):
    log_in(client, volunteer)
    reply = client.put(f"/sync/{volunteer.couch_db}/feedback:survey:x",
                       json={"type": "feedback", "decision": "approved"})
    assert reply.status_code == 403


def test_not_logged_in_gets_401_json(client, volunteer):
    reply = client.get(f"/sync/{volunteer.couch_db}/")
    assert reply.status_code == 401
    assert reply.get_json()["error"]["code"] == "401.2"


def test_reviewer_cannot_use_the_gateway(client, reviewer):
    log_in(client, reviewer)
    assert client.get("/sync/forms/").status_code == 403


def test_deactivated_volunteer_stops_syncing(app, client, volunteer):
    from server.actions.auth import CLI_ACTOR
    from server.actions.users import deactivate_user
    from server.models import db

    log_in(client, volunteer)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    with app.app_context():
        deactivate_user(CLI_ACTOR, volunteer.username)
        db.session.commit()
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 401
