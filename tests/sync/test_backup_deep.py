"""A document nested too deeply for Python's JSON reader (CouchDB takes one; the ingest
quarantines it) is backed up and restored as it is, instead of stopping `sotay backup`
with a RecursionError (found by the restore drill on a CouchDB 3 server shared with the
tests that write such documents)."""

from __future__ import annotations

import secrets

from sync.backup import dump_db, load_db

DEPTH = 3000


def test_a_document_too_deep_to_parse_is_kept_as_it_is(couch_server, tmp_path):
    couch = couch_server.client()
    db = f"userdb-deep{secrets.token_hex(4)}"
    couch.ensure_db(db)
    deep = '{"_id":"survey:deep","type":"survey","a":' + "[" * DEPTH + "]" * DEPTH + "}"
    [written] = couch.bulk_write_texts(db, [deep])
    couch.bulk_write(db, [{"_id": "survey:plain", "type": "survey"}])
    before = couch.leaf_text(db, "survey:deep", written["rev"])

    counts = dump_db(couch, db, tmp_path / "deep.jsonl.gz", None)
    assert (counts.docs, counts.leaves) == (2, 2)
    couch.delete_db(db)
    load_db(couch, tmp_path / "deep.jsonl.gz")

    assert couch.leaf_text(db, "survey:deep", written["rev"]) == before
    assert couch.open_revs(db, "survey:plain")[0]["type"] == "survey"
    couch.delete_db(db)
