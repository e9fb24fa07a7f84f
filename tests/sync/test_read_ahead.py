"""The ingest's read-ahead: pages in order, each from the previous one's last_seq,
and a failure to read reaches the ingest instead of ending the feed quietly."""

from __future__ import annotations

import uuid

import pytest

from sync.couch import END, UNSURE, Couch, CouchError, RawChanges
from sync.ingest import ReadAhead


@pytest.fixture
def filled_db(couch_server):
    client = couch_server.client()
    name = f"readahead-{uuid.uuid4().hex[:8]}"
    client.ensure_db(name)
    client.bulk_write(name, [{"_id": f"doc:{i:04d}", "n": i} for i in range(250)])
    yield client, name
    client.delete_db(name)


def test_pages_come_in_order_and_end_with_the_feed(filled_db):
    client, name = filled_db
    pages = list(ReadAhead(client, name, None, 100))
    assert [len(page.results) for page in pages] == [100, 100, 50]
    ids = [change["id"] for page in pages for change in page.results]
    assert sorted(ids) == [f"doc:{i:04d}" for i in range(250)]
    # Each page's last_seq is where the rest begins. (Not "the same page again": on
    # CouchDB 3 two reads of one feed across shards may come in other orders.)
    seen: set[str] = set()
    for page in pages:
        seen.update(change["id"] for change in page.results)
        rest = client.changes(name, page.last_seq, 1000).results
        assert sorted(c["id"] for c in rest) == sorted(set(ids) - seen)


def test_starting_from_a_checkpoint_reads_only_what_follows(filled_db):
    client, name = filled_db
    first = client.changes(name, None, 200)
    rest = list(ReadAhead(client, name, first.last_seq, 100))
    assert sum(len(page.results) for page in rest) == 50


def test_a_read_failure_is_raised_to_the_ingest(couch_server):
    client = couch_server.client()
    with pytest.raises(CouchError) as missing:
        list(ReadAhead(client, f"missing-{uuid.uuid4().hex[:8]}", None, 100))
    assert missing.value.status == 404
    # Not the suite's admin: on CouchDB 3 failed logins count towards locking a user out.
    wrong = Couch(client.base_url, "not-an-admin", "not-the-password")
    with pytest.raises(CouchError) as refused:
        wrong.changes_raw("_users", None, 1)
    assert refused.value.status == 401


def test_stopping_early_stops_the_reader(filled_db):
    client, name = filled_db
    read_ahead = ReadAhead(client, name, None, 10, depth=1)
    for _page in read_ahead:
        break
    read_ahead._thread.join(5)
    assert not read_ahead._thread.is_alive()


def test_a_wrong_guess_of_where_the_next_page_starts_is_corrected(filled_db, monkeypatch):
    """The reading thread asks for the next page before this one is parsed, from
    where it reads the reply to end. Where that is wrong (here: always the page's
    own start, so it would read the same page again), the parsed page's own
    last_seq wins: the pages still come once each, in order."""
    client, name = filled_db
    monkeypatch.setattr(RawChanges, "next_since", lambda raw: raw.since or 0)
    pages = list(ReadAhead(client, name, None, 100))
    assert [len(page.results) for page in pages] == [100, 100, 50]
    ids = [change["id"] for page in pages for change in page.results]
    assert sorted(ids) == [f"doc:{i:04d}" for i in range(250)]


def test_where_the_thread_cannot_tell_it_parses_the_page_itself(filled_db, monkeypatch):
    client, name = filled_db
    monkeypatch.setattr(RawChanges, "next_since", lambda raw: UNSURE)
    pages = list(ReadAhead(client, name, None, 100))
    assert [len(page.results) for page in pages] == [100, 100, 50]


def raw(body: str) -> RawChanges:
    return RawChanges("db", None, 10, body.encode())


@pytest.mark.parametrize(("body", "expected"), [
    # PouchDB Server
    ('{"results":[{"seq":3,"id":"a","changes":[{"rev":"1-x"}]}],"last_seq":3}', 3),
    # CouchDB 3: an opaque string, `pending` after it, lines between
    ('{"results":[\n{"seq":"7-g1AAAA","id":"a","changes":[{"rev":"1-x"}]}\n],\n'
     '"last_seq":"7-g1AAAA\\"x","pending":12}\n', '7-g1AAAA"x'),
    (' { "results" : [ {"seq":1} ] , "last_seq" : 41 }\n', 41),
    # a document's own last_seq key, and the words in a text, come before the real one
    ('{"results":[{"doc":{"last_seq":99,"note":"\\"last_seq\\": 5"}}],"last_seq":4}', 4),
    ('{"results":[],"last_seq":4}', END),
    ('{"results":[\n\n],\n"last_seq":"4-abc","pending":0}', END),
    ('{"last_seq":4,"results":[{"seq":4}]}', UNSURE),  # another order: not read off
    ('{"results":[{"seq":4}]}', UNSURE),
    ('{"results":[{"seq":4}],"last_seq":', UNSURE),
    ('{"results":[{"seq":4}],"last_seq":"4-ab', UNSURE),
    ('{"results":[{"seq":4}],"last_seq" 4}', UNSURE),
    ('<html>busy</html>', UNSURE),
])
def test_where_the_next_page_starts_is_read_off_the_reply(body, expected):
    assert raw(body).next_since() == expected if expected not in (END, UNSURE) \
        else raw(body).next_since() is expected


def test_a_page_that_is_not_json_is_a_couch_error(couch_server):
    client = couch_server.client()
    with pytest.raises(CouchError, match="not JSON"):
        client.parse_changes(raw('{"results":[{"seq":4}],"last_seq":'))
    with pytest.raises(CouchError, match="not a JSON object"):
        client.parse_changes(raw("[1, 2]"))
