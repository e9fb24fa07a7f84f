"""Replication conflicts: detect them, merge field by field, write the merge back.

When a survey has conflicting leaves (edited on two phones, or on a phone
and the server), the ingest stores every leaf as a revision and records a
`MergeNeeded` with the merged body (`sync.merge`, against the nearest common
ancestor the server holds), in the same transaction as the page. Only after
that commit does `write_back_merges` write the merged revision on top of
CouchDB's winning leaf and tombstone the losing leaves, so every replica
converges. If the leaves changed in between (a phone edited again), the
pending merge is marked superseded: the new edit arrives as a change of its
own and is merged afresh. A crash anywhere leaves either a pending merge to
retry or a written one; no answer is lost because every leaf is in SQL first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sync.couch import Couch, CouchError
from sync.merge import (
    Leaf,
    history_from_revisions,
    merge_revisions,
    nearest_common_ancestor,
)


@dataclass(frozen=True)
class MergeNeeded:
    couch_db: str
    doc_id: str
    leaf_revs: tuple[str, ...]
    merged: dict
    winner_rev: str
    losing_revs: tuple[str, ...]
    record: dict
    merged_from: tuple[str, ...]


@dataclass(frozen=True)
class PendingMerge:
    key: Any
    couch_db: str
    doc_id: str
    leaf_revs: tuple[str, ...]
    merged: dict
    winner_rev: str
    losing_revs: tuple[str, ...]


class MergeStore(Protocol):
    def revision_body(self, couch_db: str, doc_id: str, rev: str) -> dict | None: ...

    def known_revisions(self, couch_db: str, doc_id: str) -> set[str]: ...

    def merge_ancestry(self, couch_db: str, doc_id: str) -> dict[str, set[str]]:
        """Each merge revision written for this document → every revision it merged."""
        ...

    def pending_merges(self) -> list[PendingMerge]: ...

    def finish_merge(self, key: Any, state: str, merged_rev: str | None) -> None: ...


def live_leaves(couch: Couch, couch_db: str, doc_id: str) -> list[dict]:
    return [leaf for leaf in couch.open_revs(couch_db, doc_id) if not leaf.get("_deleted")]


def plan_merge(couch: Couch, store: MergeStore, couch_db: str,
               leaves: list[dict]) -> MergeNeeded:
    """The merge of a document's live leaves against their nearest known common ancestor."""
    doc_id = leaves[0]["_id"]
    histories = [history_from_revisions(leaf["_revisions"]) for leaf in leaves]
    known = store.known_revisions(couch_db, doc_id)
    merged = store.merge_ancestry(couch_db, doc_id)
    ancestor_rev = nearest_common_ancestor(histories, known, merged)
    ancestor = store.revision_body(couch_db, doc_id, ancestor_rev) if ancestor_rev else None
    if ancestor is None:
        # Not stored here (first sight of this document): CouchDB may still hold
        # the body of the nearest common ancestor if it was not compacted away.
        nearest = nearest_common_ancestor(histories, merged=merged)
        if nearest is not None:
            ancestor = couch.get(couch_db, doc_id, rev=nearest)
    result = merge_revisions(ancestor, [
        Leaf(rev=leaf["_rev"], doc=leaf, updated_at=leaf.get("updated_at"),
             author=leaf.get("volunteer")) for leaf in leaves])
    merged = {key: value for key, value in result.doc.items() if not key.startswith("_")}
    return MergeNeeded(couch_db, doc_id, tuple(sorted(leaf["_rev"] for leaf in leaves)),
                       merged, result.winner_rev, result.losing_revs,
                       {**result.record(), "ancestor_rev": ancestor_rev},
                       tuple(sorted(set().union(*histories))))


def write_back_merges(couch: Couch, store: MergeStore) -> int:
    """Write pending merges into CouchDB; return how many were written."""
    written = 0
    for pending in store.pending_merges():
        try:
            current = tuple(sorted(leaf["_rev"] for leaf in live_leaves(
                couch, pending.couch_db, pending.doc_id)))
        except CouchError:
            continue
        if current != pending.leaf_revs:
            store.finish_merge(pending.key, "superseded", None)
            continue
        # The merged revision first, alone: only once it stands may the losing
        # leaves go. If a phone edited the winner meanwhile, the write fails and
        # nothing is deleted; the new edit comes in as a change and is merged.
        merged = {**pending.merged, "_id": pending.doc_id, "_rev": pending.winner_rev}
        result = couch.bulk_write(pending.couch_db, [merged])[0]
        if "error" in result:
            store.finish_merge(pending.key, "superseded", None)
            continue
        tombstones = [{"_id": pending.doc_id, "_rev": rev, "_deleted": True}
                      for rev in pending.losing_revs]
        if tombstones:
            # A tombstone refused here leaves a leaf that the next pass merges again.
            couch.bulk_write(pending.couch_db, tombstones)
        store.finish_merge(pending.key, "written", result.get("rev"))
        written += 1
    return written
