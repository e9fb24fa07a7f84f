"""CouchDB databases to files and back, with every revision id kept.

A database's file (gzip'd JSON lines) holds its `_security`, then each
document as all its leaf revisions (deleted ones and conflicts too) with
their revision history and attachments inline, then the ids of the
documents the ingest had not read yet, then counts that mark the end:

    {"database": "userdb-6c616e", "security": {...}}
    {"id": "survey:1", "leaves": [{"_id": ..., "_rev": "2-..", "_revisions": ...}]}
    {"pending": ["survey:9", ...]}
    {"end": {"docs": 12, "leaves": 12, "attachments": 5, "pending": 1}}

Documents are read one at a time (`open_revs=all`, `revs`, `attachments`) while
`_changes` is followed page by page, and written back in small batches with
`new_edits: false`, so memory holds one document or one batch, whatever the
size of the database. Writing the same revisions (ids, history, attachments)
is what lets a phone that replicated before the backup carry on after the
restore: CouchDB and PouchDB know a document by its revision ids.

"Pending" is what a restore needs to resume the ingest where it was: the
documents `_changes` lists after the ingest's checkpoint (read before the
backup, so at worst a few documents the ingest had read are listed again;
it skips revisions it has stored). A restore writes the other documents
first, takes the new database's `update_seq` as the ingest's checkpoint,
then writes the pending ones: the ingest reads exactly those, in the new
database's own sequence. `_local` documents (replication checkpoints) are
left out on purpose: they name sequences of the old server, meaningless in
the new one; without them a phone compares revisions from the start once,
finds it has them all, and goes on.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sync.couch import USERS_DB, Couch, CouchError

PAGE = 500  # `_changes` results read at a time
BATCH_LEAVES = 100  # revisions written in one `_bulk_docs` ...
BATCH_BYTES = 8 * 1024 * 1024  # ... or about this many bytes of them, whichever comes first
PENDING_PER_LINE = 1000


@dataclass
class DumpCounts:
    docs: int = 0
    leaves: int = 0
    attachments: int = 0
    pending: int = 0


class BackupFileError(Exception):
    """A database file is damaged or cut short."""


def user_doc_id(name: str) -> str:
    return f"org.couchdb.user:{name}"


def _line(out: Any, record: dict) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")


def _changed(couch: Couch, db: str, since: Any) -> Iterator[dict]:
    """Every `_changes` result after `since`, page by page."""
    while True:
        page = couch.changed_ids(db, since, PAGE)
        yield from page.results
        if not page.results or page.last_seq == since:
            return
        since = page.last_seq


def _leaves(couch: Couch, db: str, doc_id: str, attachments: bool = True) -> list[dict]:
    """Every leaf of a document; none if it has gone (purged, or never was)."""
    try:
        return couch.open_revs(db, doc_id, attachments=attachments)
    except CouchError as err:
        if err.status == 404:
            return []
        raise


def _leaf_texts(couch: Couch, db: str, change: dict) -> list[str]:
    """A document nested too deeply for Python's JSON reader (CouchDB takes one; the
    ingest quarantines it): each leaf kept as the text CouchDB sent, unparsed."""
    texts = []
    for leaf in change.get("changes", []):
        try:
            texts.append(couch.leaf_text(db, change["id"], leaf["rev"]))
        except CouchError as err:
            if err.status != 404:
                raise
    return texts


def _write_leaves(out: Any, doc_id: str, leaves: list[dict], counts: DumpCounts) -> None:
    _line(out, {"id": doc_id, "leaves": leaves})
    counts.docs += 1
    counts.leaves += len(leaves)
    counts.attachments += sum(len(leaf.get("_attachments") or {}) for leaf in leaves)


def _write_leaf_texts(out: Any, doc_id: str, texts: list[str], counts: DumpCounts) -> None:
    _line(out, {"id": doc_id, "leaf_texts": texts})
    counts.docs += 1
    counts.leaves += len(texts)


def dump_db(couch: Couch, db: str, path: Path, ingested_to: Any) -> DumpCounts:
    """Write database `db` to `path`; `ingested_to` is the ingest's checkpoint (None where
    it has read nothing: every document is then pending)."""
    counts = DumpCounts()
    seen: set[str] = set()  # a clustered database may list a document twice
    with gzip.open(path, "wb", compresslevel=5) as out:
        _line(out, {"database": db, "security": couch.security(db)})
        for change in _changed(couch, db, 0):
            doc_id = change["id"]
            if doc_id in seen or doc_id.startswith("_local/"):
                continue
            seen.add(doc_id)
            try:
                leaves = _leaves(couch, db, doc_id)
            except RecursionError:
                texts = _leaf_texts(couch, db, change)
                if texts:
                    _write_leaf_texts(out, doc_id, texts, counts)
                continue
            if leaves:  # purged between the two reads: nothing left to keep
                _write_leaves(out, doc_id, leaves, counts)
        # Read after the documents: one changed while they were read is listed here.
        pending = sorted(seen) if ingested_to is None else sorted(
            {c["id"] for c in _changed(couch, db, ingested_to)} & seen)
        for start in range(0, len(pending), PENDING_PER_LINE):
            _line(out, {"pending": pending[start:start + PENDING_PER_LINE]})
        counts.pending = len(pending)
        _line(out, {"end": asdict(counts)})
    return counts


def dump_users(couch: Couch, names: Iterable[str], path: Path) -> DumpCounts:
    """The `_users` entries of these accounts (those that exist), in a database file of
    their own; `_users`' `_security` is the server's, not Sotay's, and is not kept."""
    counts = DumpCounts()
    with gzip.open(path, "wb", compresslevel=5) as out:
        _line(out, {"database": USERS_DB, "security": None})
        for name in names:
            leaves = _leaves(couch, USERS_DB, user_doc_id(name), attachments=False)
            if leaves:
                _write_leaves(out, user_doc_id(name), leaves, counts)
        _line(out, {"end": asdict(counts)})
    return counts


def _records(path: Path) -> Iterator[dict]:
    try:
        with gzip.open(path, "rb") as source:
            for raw in source:
                yield json.loads(raw)
    except (OSError, EOFError, ValueError) as err:
        raise BackupFileError(f"{path.name}: {err}") from err


def read_header(path: Path) -> dict:
    for record in _records(path):
        if "database" not in record:
            break
        return record
    raise BackupFileError(f"{path.name}: no database header")


def _pending(path: Path) -> tuple[set[str], DumpCounts]:
    """The file's pending ids and end counts, reading it through (and so checking it is
    whole)."""
    pending: set[str] = set()
    for record in _records(path):
        if "pending" in record:
            pending.update(record["pending"])
        elif "end" in record:
            return pending, DumpCounts(**record["end"])
    raise BackupFileError(f"{path.name}: cut short (no end line)")


def _batches(path: Path, wanted: Callable[[str], bool]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    size = 0
    for record in _records(path):
        if "id" not in record or not wanted(record["id"]):
            continue
        for leaf in record.get("leaves", []):
            batch.append(leaf)
            size += len(json.dumps(leaf))
        for text in record.get("leaf_texts", []):
            batch.append(RawLeaf(text))
            size += len(text)
        if len(batch) >= BATCH_LEAVES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class RawLeaf(str):
    """A leaf kept as CouchDB's text (nested too deeply to parse), written back as such."""


def _write(couch: Couch, db: str, leaves: list[dict | RawLeaf]) -> None:
    parsed = [leaf for leaf in leaves if not isinstance(leaf, RawLeaf)]
    texts = [leaf for leaf in leaves if isinstance(leaf, RawLeaf)]
    results = couch.bulk_write(db, parsed, new_edits=False) if parsed else []
    if texts:
        results += couch.bulk_write_texts(db, texts, new_edits=False)
    failed = [r for r in results if r.get("error")]
    if failed:
        raise CouchError(None, f"{db}: {len(failed)} revisions refused, e.g. {failed[0]}")


def load_db(couch: Couch, path: Path, create: bool = True) -> tuple[DumpCounts, Any]:
    """Write a database file back: `_security`, the documents the ingest had read,
    then the pending ones. Returns the counts and the `update_seq` between the two,
    where the ingest resumes."""
    header = read_header(path)
    db = header["database"]
    pending, counts = _pending(path)
    if create:
        couch.ensure_db(db)
    if header.get("security") is not None:
        couch.put_security(db, header["security"])
    for batch in _batches(path, lambda doc_id: doc_id not in pending):
        _write(couch, db, batch)
    resume_at = couch.db_info(db).get("update_seq")
    for batch in _batches(path, lambda doc_id: doc_id in pending):
        _write(couch, db, batch)
    return counts, resume_at
