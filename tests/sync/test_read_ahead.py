"""The ingest's read-ahead: pages in order, each from the previous one's last_seq,
and a failure to read reaches the ingest instead of ending the feed quietly."""

from __future__ import annotations

import uuid

import pytest

from sync.couch import CouchError
from sync.ingest import _ReadAhead


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
    pages = list(_ReadAhead(client.reader(), name, None, 100))
    assert [len(page.results) for page in pages] == [100, 100, 50]
    ids = [change["id"] for page in pages for change in page.results]
    assert sorted(ids) == [f"doc:{i:04d}" for i in range(250)]
    # Each page is what a plain read from the previous page's last_seq returns.
    since = None
    for page in pages:
        again = client.changes(name, since, 100)
        assert [c["id"] for c in again.results] == [c["id"] for c in page.results]
        assert again.last_seq == page.last_seq
        since = page.last_seq


def test_starting_from_a_checkpoint_reads_only_what_follows(filled_db):
    client, name = filled_db
    first = client.changes(name, None, 200)
    rest = list(_ReadAhead(client.reader(), name, first.last_seq, 100))
    assert sum(len(page.results) for page in rest) == 50


def test_a_read_failure_is_raised_to_the_ingest(couch_server):
    client = couch_server.client()
    with pytest.raises(CouchError):
        list(_ReadAhead(client.reader(), f"missing-{uuid.uuid4().hex[:8]}", None, 100))


def test_stopping_early_stops_the_reader(filled_db):
    client, name = filled_db
    read_ahead = _ReadAhead(client.reader(), name, None, 10, depth=1)
    for _page in read_ahead:
        break
    read_ahead._thread.join(5)
    assert not read_ahead._thread.is_alive()
