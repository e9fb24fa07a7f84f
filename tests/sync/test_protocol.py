"""What the gateway sends on: queries rebuilt from checked parameters, bodies checked."""

from __future__ import annotations

import pytest

from sync.protocol import (
    LONGPOLL_MAX_MS,
    Refused,
    TooLarge,
    check_body,
    check_query,
    endpoint_of,
)


def test_a_longpoll_is_capped_and_loses_its_heartbeat():
    sent = check_query("_changes", "GET", "feed=longpoll&timeout=3600000&heartbeat=1000&since=5")
    assert sent == f"feed=longpoll&timeout={LONGPOLL_MAX_MS}&since=5"
    capped = f"feed=longpoll&timeout={LONGPOLL_MAX_MS}"
    assert check_query("_changes", "GET", "feed=longpoll") == capped


def test_what_pouchdb_sends_is_sent_on_as_it_came():
    query = "style=all_docs&since=12&limit=20&_nonce=1700000000000"
    assert check_query("_changes", "GET", query) == query
    couch3_seq = "12-g1AAAABteJzLYWBgYMpgTmEQTc4vTc5ISXIwNDLXMwBCwxygFFMeC5BkeACk_gNBViIDALnMDXM"
    assert check_query("_changes", "GET", f"since={couch3_seq}") == f"since={couch3_seq}"
    assert check_query("doc", "GET", "revs=true&open_revs=%5B%222-b%22%5D&latest=true") == (
        "revs=true&open_revs=%5B%222-b%22%5D&latest=true")


@pytest.mark.parametrize("query", [
    "feed=normal&feed=continuous",  # CouchDB reads the first, a gateway might read the last
    "filter=_doc_ids&filter=nope/nope", "since=1%00", "limit=1e3", "heartbeat=forever",
    "a" * 5000,
])
def test_ambiguous_or_unknown_queries_are_refused(query):
    with pytest.raises(Refused):
        check_query("_changes", "GET", query)


def test_a_method_outside_replication_is_refused():
    with pytest.raises(Refused):
        check_query("_bulk_docs", "GET", "")
    with pytest.raises(Refused):
        check_query("_changes", "POST", "")  # a POST must be a _doc_ids filter


@pytest.mark.parametrize("rest,endpoint", [
    ([], ""), ([""], ""), (["_changes"], "_changes"), (["_local", "x"], "_local"),
    (["survey:a"], "doc"), (["photo:a", "photo.jpg"], "attachment"),
])
def test_endpoints(rest, endpoint):
    assert endpoint_of(rest) == endpoint


def test_an_inline_attachment_is_measured_decoded():
    doc = {"_id": "photo:a", "_attachments": {"p.jpg": {"content_type": "image/jpeg",
                                                        "data": "AAAA" * 4}}}  # 12 bytes
    check_body("_bulk_docs", "POST", {"docs": [doc]}, 12, {})
    with pytest.raises(TooLarge) as raised:
        check_body("_bulk_docs", "POST", {"docs": [doc]}, 11, {})
    assert raised.value.limit == 11


@pytest.mark.parametrize("endpoint,body", [
    ("_revs_diff", {"survey:a": ["x"]}), ("_revs_diff", []),
    ("_bulk_get", {"docs": [{"id": "survey:a", "rev": "1-a", "extra": 1}]}),
    ("_bulk_get", {"docs": [{"rev": "1-a"}]}),
    ("_bulk_get", {"docs": [], "revs": "yes"}), ("_bulk_get", {"docs": [], "open_revs": True}),
    ("_bulk_get", {"revs": True}),
    ("_changes", {"doc_ids": [1]}), ("_all_docs", {"keys": "survey:a"}),
    ("_bulk_docs", {"docs": [], "all_or_nothing": True}), ("_bulk_docs", None),
    ("_bulk_docs", {"docs": [{"_id": "survey:a"}], "new_edits": False}),  # no _rev
])
def test_protocol_bodies_have_their_shapes(endpoint, body):
    with pytest.raises(Refused):
        check_body(endpoint, "POST", body, 1000, {})


def test_bulk_get_takes_the_options_couchdb_replicator_repeats_in_its_body():
    # As Apache CouchDB 3.4's replicator sends it; refused, it fell back to one GET
    # per document, and a pull took several times as long.
    check_body("_bulk_get", "POST", {"revs": True, "latest": True, "attachments": False,
                                     "docs": [{"id": "survey:a", "rev": "1-a",
                                               "atts_since": []}]}, 1000, {})


def test_a_checkpoint_is_free_but_keeps_its_id():
    check_body("_local", "PUT", {"_id": "_local/abc", "_rev": "0-3", "last_seq": "12-x",
                                 "history": [{"last_seq": 1}]}, 1000, {}, url_id="_local/abc")
    with pytest.raises(Refused):
        check_body("_local", "PUT", {"_id": "survey:x"}, 1000, {}, url_id="_local/abc")
