"""Field-by-field merge of conflicting revisions of one survey document.

When a survey is edited on two phones, or on a phone while a reviewer corrects
it on the server, CouchDB keeps every edit as a leaf of the document's revision
tree and shows one of them, chosen by revision id alone, as "the" document. The
others would be silently hidden. This module turns those leaves, and their
nearest common ancestor, into one merged document plus a record of every value
that lost a real conflict, so that the ingest can write the merge back on top
of CouchDB's winning leaf, delete the other leaves and let every replica
converge. It is pure: plain dicts in, plain data out; `sync.couch` fetches the
leaves and writes the result.

The rule, in plain words (docs/merge.md says it for users):

- Each answer is compared with the common ancestor. A change made on one side
  only is kept. The same change made on several sides is kept once.
- Repeat rows (household members) are matched by their `_row` id, never by
  position: rows added anywhere are kept, a row deleted on one side and left
  untouched elsewhere is deleted, edits to different fields of one row are all
  kept.
- Lists of plain values (select_multiple choices, photo ids) are merged as
  sets: an option added on one side stays, an option removed on one side
  goes, so no option or photo added on either side is dropped by the merge.
- When several sides changed the same answer differently (deleting it counts
  as a change), the leaf whose `updated_at` is latest wins; ties go to the
  higher revision generation, then the larger revision hash. This ranking
  never depends on the order the leaves are given in. Every losing value is
  kept in `MergeResult.conflicts` with its revision, for the reviewer.
- With no known ancestor every answer present in any leaf is treated as a
  change, so nothing is deleted and every disagreement is recorded.

CouchDB helpers for the revision tree (`winning_rev`, `history_from_revisions`,
`nearest_common_ancestor`, which also takes the ingest's record of earlier
merges) live here too, so the ingest can find the ancestor without any
knowledge of the merge internals.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Conflict",
    "Leaf",
    "MergeResult",
    "Version",
    "history_from_revisions",
    "merge_revisions",
    "nearest_common_ancestor",
    "parse_rev",
    "revision_number",
    "winning_rev",
]

# Keys the merged body takes verbatim rather than merges: `updated_at` moves
# forward with every edit, so comparing it field by field would report a
# conflict on every merge.
_UPDATED_AT = "updated_at"
_ROW = "_row"
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class _Missing:
    """An absent key: distinct from an explicit null answer."""

    def __repr__(self) -> str:
        return "MISSING"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Missing:
        return self


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Leaf:
    """One conflicting leaf revision: its rev id and its document body.

    `updated_at` overrides the document's own `updated_at` for ranking (the
    ingest may know a better time, such as when the server received it);
    `author` is only carried into the conflict record.
    """

    rev: str
    doc: Mapping[str, Any]
    updated_at: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Version:
    """One leaf's value at a conflicting path; `deleted` when it removed it."""

    rev: str
    value: Any
    deleted: bool = False
    author: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class Conflict:
    """A path that several leaves changed differently, and who won.

    `path` is a tuple of keys from the document root; a repeat row appears as
    the segment `"_row=<row id>"`, e.g. `("answers", "members", "_row=8f…",
    "age")`. A conflict on a whole row (deleted on one side, edited on
    another) has the row segment last.
    """

    path: tuple[str, ...]
    winner: Version
    losers: tuple[Version, ...]


@dataclass(frozen=True)
class MergeResult:
    """The merged body, the conflicts decided, and how to write it back.

    Write `doc` with `_rev = winner_rev` and delete each of `losing_revs`
    (a tombstone on top of each); with a single leaf there is nothing to write.
    """

    doc: dict[str, Any]
    conflicts: tuple[Conflict, ...]
    winner_rev: str
    losing_revs: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        """The merge as JSON-ready plain data, for the audit trail."""
        return {
            "winner_rev": self.winner_rev,
            "losing_revs": list(self.losing_revs),
            "conflicts": [
                {
                    "path": list(c.path),
                    "winner": _version_record(c.winner),
                    "losers": [_version_record(v) for v in c.losers],
                }
                for c in self.conflicts
            ],
        }


def _version_record(version: Version) -> dict[str, Any]:
    return {
        "rev": version.rev,
        "value": version.value,
        "deleted": version.deleted,
        "author": version.author,
        "updated_at": version.updated_at,
    }


# --- the revision tree ---------------------------------------------------


def parse_rev(rev: str) -> tuple[int, str]:
    """Split a CouchDB rev "N-hash" into (N, hash); ValueError if malformed."""
    generation, dash, digest = rev.partition("-")
    if not dash or not generation.isdigit() or not digest:
        raise ValueError(f"not a CouchDB revision: {rev!r}")
    return int(generation), digest


def revision_number(rev: str) -> int:
    """The generation of a revision (`3` of `3-abc`), 0 when it has none: the
    order in which the ingest lets a revision replace a stored one. The SQL
    forms of this rule are server/queries/bulk.py's `revision_number` and
    `revision_number_sql`, next to each other."""
    head = rev.split("-", 1)[0]
    return int(head) if head.isdigit() and head.isascii() else 0


def winning_rev(revs: Iterable[str]) -> str:
    """CouchDB's deterministic winner among non-deleted leaves.

    Highest generation first, then the larger hash compared as a string:
    what CouchDB and PouchDB both show as the document when leaves conflict.
    """
    return max(revs, key=parse_rev)


def history_from_revisions(revisions: Mapping[str, Any]) -> list[str]:
    """Turn a `_revisions` object ({"start", "ids"}) into revs, newest first."""
    start = revisions["start"]
    return [f"{start - offset}-{digest}" for offset, digest in enumerate(revisions["ids"])]


def nearest_common_ancestor(
    histories: Sequence[Sequence[str]],
    known: Container[str] | None = None,
    merged: Mapping[str, Collection[str]] | None = None,
) -> str | None:
    """The newest revision in every leaf's ancestry whose body is `known`.

    `histories` are the leaves' ancestries (each leaf first, as from
    `history_from_revisions`). Common ancestors of tree leaves form one path
    from the root, so the highest generation is the nearest. When the nearest
    body was never stored, an older common one is still a correct base (it
    only makes more answers look changed, so more disagreements get recorded,
    none lost); None when there is none.

    `merged` maps each merge revision the ingest wrote to every revision it
    merged (the union of its leaves' histories). CouchDB gives a revision one
    parent only, so without this a phone that kept editing a losing leaf
    after a merge would look as if it had changed again whatever the merge
    decided against it, and could reverse that decision; with it the losing
    leaf counts as an ancestor of the merge, and only the phone's new edits
    count as changes.
    """
    if not histories:
        return None
    lines = [_ancestry(history, merged or {}) for history in histories]
    common = set.intersection(*lines)
    usable = [rev for rev in common if known is None or rev in known]
    return max(usable, key=parse_rev, default=None)


def _ancestry(history: Sequence[str], merged: Mapping[str, Collection[str]]) -> set[str]:
    """A history plus everything merged into any revision of it."""
    ancestry = set(history)
    pending = [rev for rev in history if rev in merged]
    while pending:
        for rev in merged[pending.pop()]:
            if rev not in ancestry:
                ancestry.add(rev)
                if rev in merged:
                    pending.append(rev)
    return ancestry


# --- the merge -----------------------------------------------------------


def merge_revisions(ancestor: Mapping[str, Any] | None, leaves: Sequence[Leaf]) -> MergeResult:
    """Merge conflicting leaves of one document against their common ancestor.

    `ancestor` is the body of the nearest common ancestor revision, or None
    when it is unknown. The result does not depend on the order of `leaves`.
    """
    if not leaves:
        raise ValueError("merge_revisions needs at least one leaf")
    revs = [leaf.rev for leaf in leaves]
    if len(set(revs)) != len(revs):
        raise ValueError(f"duplicate leaf revisions: {sorted(revs)}")
    if any(leaf.doc.get("_deleted") for leaf in leaves):
        # A tombstone's empty body would read as "every answer deleted".
        raise ValueError("pass live leaves only: a deleted leaf is not a side of a conflict")
    ids = {leaf.doc.get("_id") for leaf in leaves}
    if len(ids) > 1:
        raise ValueError(f"leaves of different documents: {sorted(map(str, ids))}")

    winner = winning_rev(revs)
    losing = tuple(sorted((rev for rev in revs if rev != winner), key=parse_rev, reverse=True))
    ranked = sorted(leaves, key=_rank_key, reverse=True)
    base = _body(ancestor) if ancestor is not None else {}
    merger = _Merger()
    pairs = [(leaf, _body(leaf.doc)) for leaf in ranked]
    doc = merger.merge_map((), base, pairs, _document_key_style)
    _carry_metadata(doc, ranked, winner)
    merger.note_attachments(ranked, winner)
    conflicts = tuple(sorted(merger.conflicts, key=lambda c: c.path))
    return MergeResult(doc=copy.deepcopy(doc), conflicts=conflicts, winner_rev=winner,
                       losing_revs=losing)


def _rank_key(leaf: Leaf) -> tuple[datetime, int, str]:
    """Later `updated_at` first, then CouchDB's own order of revisions."""
    return (_instant(_leaf_time(leaf)), *parse_rev(leaf.rev))


def _leaf_time(leaf: Leaf) -> Any:
    return leaf.updated_at if leaf.updated_at is not None else leaf.doc.get(_UPDATED_AT)


def _instant(value: Any) -> datetime:
    """An ISO-8601 time as an aware UTC datetime; unusable times rank earliest."""
    if not isinstance(value, str):
        return _EARLIEST
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return _EARLIEST


def _body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The mergeable part of a document: no CouchDB bookkeeping keys."""
    return {key: copy.deepcopy(value) for key, value in doc.items()
            if not key.startswith("_") or key == "_id"}


def _carry_metadata(doc: dict[str, Any], ranked: Sequence[Leaf], winner: str) -> None:
    """Set the keys the merge takes verbatim: `updated_at` and attachments."""
    times = [leaf.doc[_UPDATED_AT] for leaf in ranked if _UPDATED_AT in leaf.doc]
    if times:
        # max is stable: among equal instants the best-ranked leaf's text stays.
        doc[_UPDATED_AT] = max(times, key=_instant)
    winner_doc = next(leaf.doc for leaf in ranked if leaf.rev == winner)
    if "_attachments" in winner_doc:
        # Stubs stay valid because the merge is written on top of the winner.
        doc["_attachments"] = copy.deepcopy(winner_doc["_attachments"])


def _document_key_style(key: str) -> str:
    """How a key of the document root merges: answers key by key."""
    if key == _UPDATED_AT:
        return "skip"
    if key == "answers":
        return "map"
    return "value"


def _value_style(key: str) -> str:
    """Inside answers and rows every key merges as a value of its own."""
    return "value"


def _canonical(value: Any) -> str:
    """Equality that tells 1 from 1.0 from true, and ignores dict key order."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=True)


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return _canonical(a) == _canonical(b)


def _is_row_list(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    ids = [row.get(_ROW) if isinstance(row, dict) else None for row in value]
    return all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)


def _is_plain_set(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    if not all(v is None or isinstance(v, str | int | float | bool) for v in value):
        return False
    keys = [_canonical(v) for v in value]
    return len(set(keys)) == len(keys)


Pairs = list[tuple[Leaf, Any]]


class _Merger:
    """One merge: walks the leaves' values path by path, noting conflicts.

    Every method takes `pairs`, the leaves that hold the part being merged
    with their value there, best-ranked first, and the ancestor's `base`.
    """

    def __init__(self) -> None:
        self.conflicts: list[Conflict] = []

    def merge_value(self, path: tuple[str, ...], base: Any, pairs: Pairs) -> Any:
        values = [value for _, value in pairs]
        first = values[0]
        if all(_same(value, first) for value in values[1:]):
            return copy.deepcopy(first)
        present = [v for v in [base, *values] if v is not MISSING]
        if all(isinstance(v, list) for v in present):
            if all(_is_row_list(v) for v in present) and any(present):
                return self.merge_rows(path, base, pairs)
            if all(_is_plain_set(v) for v in present):
                return self.merge_set(base, pairs)
        return self.merge_atomic(path, base, pairs)

    def merge_atomic(self, path: tuple[str, ...], base: Any, pairs: Pairs) -> Any:
        changers = [(leaf, value) for leaf, value in pairs if not _same(value, base)]
        if not changers:
            return base
        top, winning = changers[0]
        losers = [(leaf, value) for leaf, value in changers[1:] if not _same(value, winning)]
        if losers:
            self._note(path, (top, winning), losers)
        return copy.deepcopy(winning)

    def merge_set(self, base: Any, pairs: Pairs) -> Any:
        before = {_canonical(v) for v in _as_list(base)}
        removed: set[str] = set()
        for _, value in pairs:
            removed |= before - {_canonical(v) for v in _as_list(value)}
        merged: list[Any] = []
        seen: set[str] = set()
        for _, value in pairs:
            for item in _as_list(value):
                key = _canonical(item)
                if key not in seen and key not in removed:
                    seen.add(key)
                    merged.append(copy.deepcopy(item))
        return merged if merged else _empty_form(base, pairs, [])

    def merge_rows(self, path: tuple[str, ...], base: Any, pairs: Pairs) -> Any:
        base_rows = {row[_ROW]: row for row in _as_list(base)}
        leaf_rows = [(leaf, {row[_ROW]: row for row in _as_list(value)}) for leaf, value in pairs]
        order: list[str] = []
        for _, rows in leaf_rows:
            order.extend(row_id for row_id in rows if row_id not in order)
        merged = []
        for row_id in order:
            row = self.merge_row(
                (*path, f"{_ROW}={row_id}"),
                base_rows.get(row_id, MISSING),
                [(leaf, rows.get(row_id, MISSING)) for leaf, rows in leaf_rows],
            )
            if row is not MISSING:
                merged.append(row)
        return merged if merged else _empty_form(base, pairs, [])

    def merge_row(self, path: tuple[str, ...], base: Any, pairs: Pairs) -> Any:
        changers = [(leaf, row) for leaf, row in pairs if not _same(row, base)]
        if not changers:
            return base
        deleters = [(leaf, row) for leaf, row in changers if row is MISSING]
        editors = [(leaf, row) for leaf, row in changers if row is not MISSING]
        if not editors:
            return MISSING
        top_leaf, top_row = changers[0]
        if top_row is MISSING:
            self._note(path, (top_leaf, MISSING), editors)
            return MISSING
        keepers = [(leaf, row) for leaf, row in pairs if row is not MISSING]
        row_base = base if base is not MISSING else {}
        merged = self.merge_map(path, row_base, keepers, _value_style)
        if deleters:
            self._note(path, (editors[0][0], merged), deleters)
        return merged

    def merge_map(
        self, path: tuple[str, ...], base: Any, pairs: Pairs, how: Callable[[str], str]
    ) -> Any:
        base_map = base if isinstance(base, dict) else {}
        keys: list[str] = []
        for _, value in pairs:
            keys.extend(k for k in _as_map(value) if k not in keys)
        keys.extend(k for k in base_map if k not in keys)
        merged: dict[str, Any] = {}
        for key in keys:
            sub = (*path, key)
            sub_base = base_map.get(key, MISSING)
            sub_pairs = [(leaf, _as_map(value).get(key, MISSING)) for leaf, value in pairs]
            style = how(key)
            if style == "skip":
                continue
            if style == "map" and all(
                isinstance(v, dict) for v in [sub_base, *(v for _, v in sub_pairs)]
                if v is not MISSING
            ):
                # A survey without its answers object is malformed, not a wish
                # to delete every answer: such a leaf leaves the answers alone.
                sub_pairs = [(leaf, sub_base if v is MISSING else v) for leaf, v in sub_pairs]
                if all(v is MISSING for _, v in sub_pairs):
                    continue
                value = self.merge_map(sub, sub_base, sub_pairs, _value_style)
            else:
                value = self.merge_value(sub, sub_base, sub_pairs)
            if value is not MISSING:
                merged[key] = value
        return merged

    def note_attachments(self, ranked: Sequence[Leaf], winner: str) -> None:
        """Record attachments only losing leaves hold: the merged body cannot carry them.

        A stub is only valid for an attachment of the revision it is written
        on, the winner; surveys carry none (photos are documents of their
        own), but a loser's attachment must not vanish without a trace.
        """
        winner_leaf = next(leaf for leaf in ranked if leaf.rev == winner)
        kept = _as_map(winner_leaf.doc.get("_attachments"))
        for name in sorted({n for leaf in ranked for n in _as_map(leaf.doc.get("_attachments"))}):
            losers = [
                (leaf, stub) for leaf in ranked if leaf.rev != winner
                for stub in [_as_map(leaf.doc.get("_attachments")).get(name)]
                if stub is not None and not _same_attachment(stub, kept.get(name))
            ]
            if losers:
                self._note(("_attachments", name), (winner_leaf, kept.get(name, MISSING)), losers)

    def _note(self, path: tuple[str, ...], winner: tuple[Leaf, Any], losers: Pairs) -> None:
        self.conflicts.append(
            Conflict(path=path, winner=_version(*winner),
                     losers=tuple(_version(leaf, value) for leaf, value in losers))
        )


def _version(leaf: Leaf, value: Any) -> Version:
    deleted = value is MISSING
    return Version(
        rev=leaf.rev,
        value=None if deleted else copy.deepcopy(value),
        deleted=deleted,
        author=leaf.author,
        updated_at=_leaf_time(leaf) if isinstance(_leaf_time(leaf), str) else None,
    )


def _same_attachment(a: Any, b: Any) -> bool:
    """Attachments are the same when their digests are (stubs differ in revpos)."""
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    return a.get("digest") is not None and a.get("digest") == b.get("digest")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _empty_form(base: Any, pairs: Pairs, empty: Any) -> Any:
    """An empty merge result is absent or empty as the best-ranked changer left it."""
    for _, value in pairs:
        if not _same(value, base):
            return MISSING if value is MISSING else copy.deepcopy(empty)
    return MISSING if base is MISSING else copy.deepcopy(empty)
