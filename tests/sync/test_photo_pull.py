"""A phone pulls its photos back through a busy gateway (a new phone, a reinstall):
PouchDB asks for every attachment of a batch at once, the gateway lets a
volunteer have a few requests at a time and answers the rest 503 with
Retry-After. The phone's fetch (server/static/app/js/gentle_fetch.js, which the
Node phone uses as the app does) keeps a few in flight and waits the 503s out,
so the pull completes instead of ending its batch in an error."""

from __future__ import annotations

from tests.sync.phone import phone_docs
from tests.sync.test_replication import assert_exactly_once, phone_for


def test_a_phone_pulls_many_photos_through_a_gateway_that_lets_two_in(app, live_server,
                                                                    volunteer, couch_server,
                                                                    tmp_path):
    docs = phone_docs(volunteer.username, surveys=40, photos=40, photo_size=(320, 240))
    first = phone_for(live_server, volunteer, tmp_path / "first")
    [push] = first.run(first.docs_file(docs), {"op": "push"})[1:]
    assert push["ok"], push
    app.config["SYNC_USER_CONCURRENCY"] = 2  # far below the photos one batch asks for
    again = phone_for(live_server, volunteer, tmp_path / "again")
    pull, listing = again.run({"op": "pull", "batch_size": 100}, {"op": "list"})
    assert pull["ok"], pull
    assert pull["docs_written"] == len(docs)
    assert {d["id"] for d in listing["docs"] if not d["id"].startswith("_design/")} == {
        doc["_id"] for doc in docs}
    assert_exactly_once(couch_server.client(), volunteer.couch_db, docs)
