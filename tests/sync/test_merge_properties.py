"""Property tests of sync.merge against a model of CouchDB revision trees.

`Replica` models one CouchDB or PouchDB database holding one document: the
revision tree (every rev with its parent, deleted or not), the bodies it has
actually seen (replication sends only leaf bodies, ancestors travel as ids),
CouchDB's winning-rev rule and deterministic rev ids (CouchDB hashes parent
and body, so two replicas writing the same merge on the same parent create
the same revision). Hypothesis then drives random edit histories on two or
three replicas, replicated in any order, merged anywhere, and checks that
every replica ends with the same document and that no answer was lost.

Set SOTAY_HYPOTHESIS_EXAMPLES to run more examples than the default.
"""

import copy
import hashlib
import itertools
import json
import os
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from sync.merge import (
    Leaf,
    MergeResult,
    history_from_revisions,
    merge_revisions,
    nearest_common_ancestor,
    parse_rev,
    winning_rev,
)

EXAMPLES = int(os.environ.get("SOTAY_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
DOC_ID = "survey:5d0c7a4e-9f0e-4c57-8a3f-2b1ad3c9e001"


# --- the model -----------------------------------------------------------


@dataclass(frozen=True)
class Node:
    parent: str | None
    deleted: bool


def rev_id(parent: str | None, body: dict, deleted: bool) -> str:
    generation = parse_rev(parent)[0] + 1 if parent else 1
    digest = hashlib.md5(
        json.dumps([parent, body, deleted], sort_keys=True).encode()
    ).hexdigest()
    return f"{generation}-{digest}"


class Replica:
    """One database's copy of one document's revision tree."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.bodies: dict[str, dict] = {}
        self.row_counter = 0
        # What the ingest keeps in SQL: each merge revision and all it merged.
        self.merged: dict[str, set[str]] = {}
        self.use_merge_records = True

    def write(self, parent: str | None, body: dict, deleted: bool = False) -> str:
        rev = rev_id(parent, body, deleted)
        self.nodes.setdefault(rev, Node(parent, deleted))
        self.bodies[rev] = copy.deepcopy(body)
        return rev

    def leaves(self) -> list[str]:
        parents = {node.parent for node in self.nodes.values()}
        return [rev for rev in self.nodes if rev not in parents]

    def open_leaves(self) -> list[str]:
        return [rev for rev in self.leaves() if not self.nodes[rev].deleted]

    def winner(self) -> str | None:
        """CouchDB's rule: a live leaf beats a deleted one, then generation, then hash."""
        leaves = self.leaves()
        if not leaves:
            return None
        return max(leaves, key=lambda rev: (not self.nodes[rev].deleted, *parse_rev(rev)))

    def history(self, rev: str) -> list[str]:
        path = []
        while rev is not None:
            path.append(rev)
            rev = self.nodes[rev].parent
        return path

    def revisions(self, rev: str) -> dict:
        """The `_revisions` object CouchDB returns with `revs=true`."""
        return {"start": parse_rev(rev)[0], "ids": [parse_rev(r)[1] for r in self.history(rev)]}

    def replicate_to(self, target: "Replica") -> bool:
        """Push every leaf the target lacks, as CouchDB replication does."""
        changed = False
        for leaf in self.leaves():
            if leaf in target.nodes:
                continue
            for rev in self.history(leaf):
                target.nodes.setdefault(rev, self.nodes[rev])
            target.bodies[leaf] = copy.deepcopy(self.bodies[leaf])
            changed = True
        return changed

    def merge(self) -> tuple[dict | None, list[Leaf], MergeResult] | None:
        """What the ingest does: merge the live leaves, write back, delete losers."""
        live = self.open_leaves()
        if len(live) < 2:
            return None
        histories = [history_from_revisions(self.revisions(rev)) for rev in live]
        records = self.merged if self.use_merge_records else None
        base_rev = nearest_common_ancestor(histories, known=self.bodies, merged=records)
        if base_rev != nearest_common_ancestor(histories, merged=records):
            label("merge on an older ancestor: the nearest body was never seen")
        if base_rev != nearest_common_ancestor(histories, known=self.bodies):
            label("merge on a leaf an earlier merge took in")
        ancestor = self.bodies[base_rev] if base_rev else None
        leaves = [Leaf(rev=rev, doc={**self.bodies[rev], "_rev": rev}) for rev in live]
        result = merge_revisions(ancestor, leaves)
        merge_rev = self.write(result.winner_rev, result.doc)
        self.merged[merge_rev] = set().union(*histories)
        for rev in result.losing_revs:
            self.write(rev, {"_id": DOC_ID}, deleted=True)
        return ancestor, leaves, result


def label(text: str) -> None:
    """Count a case in hypothesis' statistics; example tests use the model too."""
    if currently_in_test_context():
        event(text)


def full_sync(replicas: list[Replica]) -> None:
    while any(a.replicate_to(b) for a, b in itertools.permutations(replicas, 2)):
        pass


# --- edits ---------------------------------------------------------------

FIELDS = ["consent", "fibre", "address", "residential_group"]
SETS = ["evidence_photo", "skills_training"]
ROW_FIELDS = ["age", "vneid", "smartphone"]
VALUES = st.one_of(st.sampled_from(["yes", "no", "mobile_only", "tdp01", "tdp02", "Số 12 ngõ 5"]),
                   st.integers(0, 3), st.none())
ITEMS = st.sampled_from(["photo:aa", "photo:bb", "photo:cc", "class", "online", "community"])

EDITS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(FIELDS), VALUES),
    st.tuples(st.just("drop"), st.sampled_from(FIELDS + SETS + ["members"])),
    st.tuples(st.just("toggle"), st.sampled_from(SETS), ITEMS),
    st.tuples(st.just("add_row"), st.integers(0, 99)),
    st.tuples(st.just("drop_row"), st.integers(0, 9)),
    st.tuples(st.just("row_set"), st.integers(0, 9), st.sampled_from(ROW_FIELDS), VALUES),
    st.tuples(st.just("row_toggle"), st.integers(0, 9), ITEMS),
    st.tuples(st.just("status"), st.sampled_from(["draft", "final"])),
)
# A handful of clock readings so equal updated_at values happen, and phone
# clocks that go backwards too.
CLOCK = st.integers(0, 5).map(lambda m: f"2026-03-03T10:0{m}:00+07:00")


def apply_edit(doc: dict, edit: tuple, replica: Replica, name: str) -> None:
    answers = doc["answers"]
    kind, *args = edit
    rows = answers.get("members", [])
    if kind == "set":
        answers[args[0]] = args[1]
    elif kind == "drop":
        answers.pop(args[0], None)
    elif kind == "toggle":
        field, item = args
        chosen = answers.setdefault(field, [])
        chosen.remove(item) if item in chosen else chosen.append(item)
    elif kind == "add_row":
        replica.row_counter += 1
        # Row ids are uuid4s on phones: unique per replica and per row here.
        row = {"_row": f"{name}-{replica.row_counter}", "age": args[0]}
        answers["members"] = [*rows, row]
    elif kind == "drop_row" and rows:
        rows.pop(args[0] % len(rows))
    elif kind == "row_set" and rows:
        index, field, value = args
        rows[index % len(rows)][field] = value
    elif kind == "row_toggle" and rows:
        index, item = args
        devices = rows[index % len(rows)].setdefault("devices", [])
        devices.remove(item) if item in devices else devices.append(item)
    elif kind == "status":
        doc["status"] = args[0]


def initial_doc() -> dict:
    return {
        "_id": DOC_ID,
        "type": "survey",
        "form_id": "household",
        "form_version": "2026.1",
        "status": "draft",
        "updated_at": "2026-03-03T09:00:00+07:00",
        "answers": {
            "consent": "yes",
            "fibre": "no",
            "evidence_photo": ["photo:aa"],
            "members": [{"_row": "seed-1", "age": 40, "vneid": "none"}],
        },
    }


# --- facts: what "no answer lost" means -----------------------------------


def facts(path: tuple, value) -> set:
    """Every answered fact in a value: leaf values, set members, row existence."""
    if isinstance(value, dict) and (path in {(), ("answers",)} or path[-1].startswith("_row=")):
        found = {(path, "row")} if path and path[-1].startswith("_row=") else set()
        for key, sub in value.items():
            if key in {"_id", "_rev", "_row", "updated_at"}:
                continue
            found |= facts((*path, key), sub)
        return found
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return set().union(*(facts((*path, f"_row={row['_row']}"), row) for row in value))
    if isinstance(value, list):
        return {((*path, "member"), json.dumps(item)) for item in value}
    return {(path, json.dumps(value))}


def lost_answers(ancestor: dict | None, leaves: list[Leaf], result: MergeResult) -> set:
    """Facts a leaf changed that are neither in the merged doc nor in the record."""
    kept = facts((), result.doc)
    for conflict in result.conflicts:
        for version in (conflict.winner, *conflict.losers):
            if not version.deleted:
                kept |= facts(conflict.path, version.value)
    before = facts((), ancestor) if ancestor is not None else set()
    changed = set().union(*(facts((), leaf.doc) - before for leaf in leaves))
    return changed - kept


# --- properties ----------------------------------------------------------

# A history is a few rounds of: offline edits spread over the replicas, some
# replications in any direction, then possibly merges, so that conflicting
# edits are the common case rather than a rare draw.
ROUND = st.tuples(
    st.lists(st.tuples(st.just("edit"), st.integers(0, 2), EDITS, CLOCK), min_size=1, max_size=8),
    st.lists(st.tuples(st.just("sync"), st.integers(0, 2), st.integers(0, 2)), max_size=6),
    st.lists(st.tuples(st.just("merge"), st.integers(0, 2)), max_size=2),
)
OPS = st.lists(ROUND, min_size=1, max_size=5).map(
    lambda rounds: [op for edits, syncs, merges in rounds for op in (*edits, *syncs, *merges)]
)


def run(ops: list, count: int, merge_anywhere: bool) -> tuple[list[Replica], list]:
    """Play the ops; replica 0 is the server, every replica starts with the document."""
    replicas = [Replica() for _ in range(count)]
    replicas[0].write(None, initial_doc())
    full_sync(replicas)
    merges = []
    for op in ops:
        kind, who, *args = op
        replica = replicas[who % count]
        if kind == "edit":
            body = copy.deepcopy(replica.bodies[replica.winner()])
            apply_edit(body, args[0], replica, f"r{who % count}")
            body["updated_at"] = args[1]
            replica.write(replica.winner(), body)
        elif kind == "sync":
            replica.replicate_to(replicas[args[0] % count])
        elif kind == "merge":
            merger = replica if merge_anywhere else replicas[0]
            merges.append(merger.merge())
    return replicas, merges


def assert_converged(replicas: list[Replica]) -> None:
    trees = [replica.nodes for replica in replicas]
    assert all(tree == trees[0] for tree in trees[1:])
    for replica in replicas:
        assert len(replica.open_leaves()) == 1
    winner = replicas[0].winner()
    assert all(replica.bodies[replica.winner()] == replicas[0].bodies[winner]
               for replica in replicas)


def assert_nothing_lost(merges: list) -> None:
    for merge in merges:
        if merge is not None:
            describe(*merge)
            assert lost_answers(*merge) == set()


def describe(ancestor: dict | None, leaves: list[Leaf], result: MergeResult) -> None:
    """Label the merge in hypothesis' statistics, to show what the runs cover."""
    event(f"merge of {len(leaves)} leaves")
    if ancestor is None:
        event("merge without a known ancestor")
    if result.conflicts:
        event("merge with conflicts")
    if any(c.path[-1].startswith("_row=") for c in result.conflicts):
        event("merge with a whole-row conflict")
    if any(c.winner.deleted or any(v.deleted for v in c.losers) for c in result.conflicts):
        event("merge with a delete/edit conflict")


@SETTINGS
@given(ops=OPS, count=st.integers(2, 3))
def test_server_merges_converge_in_one_round(ops, count):
    replicas, merges = run(ops, count, merge_anywhere=False)
    full_sync(replicas)
    merges.append(replicas[0].merge())
    full_sync(replicas)
    assert_converged(replicas)
    assert_nothing_lost(merges)


@SETTINGS
@given(ops=OPS, count=st.integers(2, 3), mergers=st.lists(st.integers(0, 2), min_size=1))
def test_merges_on_any_replicas_converge(ops, count, mergers):
    replicas, merges = run(ops, count, merge_anywhere=True)
    # Two rounds suffice: after a full sync the replicas hold the same tree, but
    # may know different ancestor bodies, so their merges can differ once; the
    # next merges all start from the same (known) winner and agree.
    for merge_round in range(2):
        full_sync(replicas)
        merges.extend(replicas[i % count].merge() for i in mergers)
        merges.extend(replica.merge() for replica in replicas)
        full_sync(replicas)
        if merge_round == 0 and len(replicas[0].open_leaves()) > 1:
            event("replicas merged differently: a second round was needed")
    assert_converged(replicas)
    assert_nothing_lost(merges)


LEAF_EDITS = st.lists(st.tuples(EDITS, CLOCK), max_size=6)


@SETTINGS
@given(
    histories=st.lists(LEAF_EDITS, min_size=2, max_size=3),
    generations=st.lists(st.integers(2, 4), min_size=3, max_size=3),
    known_ancestor=st.booleans(),
    data=st.data(),
)
def test_merge_ignores_leaf_order_and_loses_nothing(histories, generations, known_ancestor, data):
    ancestor = initial_doc()
    leaves = []
    for index, edits in enumerate(histories):
        doc, replica = copy.deepcopy(ancestor), Replica()
        for edit, clock in edits:
            apply_edit(doc, edit, replica, f"r{index}")
            doc["updated_at"] = clock
        rev = f"{generations[index]}-{hashlib.md5(str(index).encode()).hexdigest()}"
        leaves.append(Leaf(rev=rev, doc=doc))
    base = ancestor if known_ancestor else None
    result = merge_revisions(base, leaves)
    describe(base, leaves, result)
    shuffled = data.draw(st.permutations(leaves))
    assert merge_revisions(base, shuffled) == result
    assert lost_answers(base, leaves, result) == set()
    assert result.winner_rev == winning_rev(leaf.rev for leaf in leaves)
    assert set(result.losing_revs) == {leaf.rev for leaf in leaves} - {result.winner_rev}
    # Whatever no leaf touched stays as it was.
    untouched = set.intersection(*(facts((), leaf.doc) for leaf in leaves))
    assert untouched <= facts((), result.doc)


@SETTINGS
@given(edits=LEAF_EDITS, copies=st.integers(1, 3))
def test_identical_leaves_merge_to_themselves(edits, copies):
    doc, replica = initial_doc(), Replica()
    for edit, clock in edits:
        apply_edit(doc, edit, replica, "r0")
        doc["updated_at"] = clock
    leaves = [Leaf(rev=f"3-{n}", doc=doc) for n in range(copies)]
    result = merge_revisions(initial_doc(), leaves)
    assert result.doc == doc
    assert result.conflicts == ()


@SETTINGS
@given(
    split=st.lists(st.integers(0, 2), min_size=len(FIELDS), max_size=len(FIELDS)),
    values=st.lists(st.one_of(VALUES, st.just("DROP")), min_size=len(FIELDS),
                    max_size=len(FIELDS)),
)
def test_changes_to_different_answers_all_apply(split, values):
    ancestor = initial_doc()
    expected = copy.deepcopy(ancestor["answers"])
    docs = [copy.deepcopy(ancestor) for _ in range(3)]
    for field, owner, value in zip(FIELDS, split, values, strict=True):
        target = docs[owner]["answers"]
        if value == "DROP":
            target.pop(field, None)
            expected.pop(field, None)
        else:
            target[field] = expected[field] = value
    leaves = [Leaf(rev=f"2-{n}", doc=doc) for n, doc in enumerate(docs)]
    result = merge_revisions(ancestor, leaves)
    assert result.doc["answers"] == expected
    assert result.conflicts == ()


# --- the model itself ----------------------------------------------------


def test_model_replication_sends_leaf_bodies_only():
    server, phone = Replica(), Replica()
    first = server.write(None, initial_doc())
    second = server.write(first, {**initial_doc(), "status": "final"})
    server.replicate_to(phone)
    assert set(phone.nodes) == {first, second}
    assert set(phone.bodies) == {second}


def test_model_same_write_on_two_replicas_is_one_revision():
    a, b = Replica(), Replica()
    assert a.write(None, initial_doc()) == b.write(None, initial_doc())


def test_model_winner_prefers_live_leaves():
    replica = Replica()
    root = replica.write(None, initial_doc())
    live = replica.write(root, {**initial_doc(), "status": "final"})
    doomed = replica.write(root, {**initial_doc(), "status": "x"})
    dead = replica.write(doomed, {"_id": DOC_ID}, deleted=True)
    assert parse_rev(dead)[0] > parse_rev(live)[0]
    assert replica.winner() == live


def test_model_merge_resolves_a_two_phone_conflict():
    server, phone = Replica(), Replica()
    root = server.write(None, initial_doc())
    server.replicate_to(phone)
    server.write(root, {**initial_doc(), "status": "final", "updated_at": "2026-03-03T11:00:00Z"})
    phone_doc = initial_doc()
    phone_doc["answers"]["fibre"] = "yes"
    phone.write(root, phone_doc)
    phone.replicate_to(server)
    _, _, result = server.merge()
    assert result.doc["status"] == "final" and result.doc["answers"]["fibre"] == "yes"
    server.replicate_to(phone)
    assert_converged([server, phone])


def test_model_merge_falls_back_to_an_older_ancestor_when_the_nearest_is_unknown():
    server, phone_a, phone_b = Replica(), Replica(), Replica()
    root = server.write(None, initial_doc())
    full_sync([server, phone_a, phone_b])
    x_doc = {**initial_doc(), "status": "final", "updated_at": "2026-03-03T10:00:00Z"}
    x = phone_a.write(root, x_doc)
    phone_a.replicate_to(phone_b)  # B gets X straight from A; the server never sees it
    y_doc = copy.deepcopy(x_doc)
    y_doc["answers"]["fibre"] = "yes"
    phone_a.write(x, y_doc)
    z_doc = copy.deepcopy(x_doc)
    z_doc["answers"]["consent"] = "no"
    phone_b.write(x, z_doc)
    phone_a.replicate_to(server)
    phone_b.replicate_to(server)
    assert x in server.nodes and x not in server.bodies
    ancestor, _, result = server.merge()
    assert ancestor == initial_doc()
    # Both sides "changed" status against the older base, identically: no conflict.
    assert result.conflicts == ()
    assert result.doc["status"] == "final"
    assert result.doc["answers"]["fibre"] == "yes" and result.doc["answers"]["consent"] == "no"


def stale_branch_edit(use_merge_records: bool) -> MergeResult:
    """A phone keeps editing its losing leaf after the server merged it away."""
    server, phone = Replica(), Replica()
    server.use_merge_records = use_merge_records
    root = server.write(None, initial_doc())
    server.replicate_to(phone)
    losing = {**initial_doc(), "updated_at": "2026-03-03T10:00:00+07:00"}
    losing["answers"] = {**losing["answers"], "fibre": "mobile_only"}
    leaf = phone.write(root, losing)
    corrected = {**initial_doc(), "updated_at": "2026-03-03T11:00:00+07:00"}
    corrected["answers"] = {**corrected["answers"], "fibre": "yes"}
    # The reviewer's correction, two saves deep: CouchDB's winner, so the
    # merge is written on top of it and the phone's leaf is not its ancestor.
    draft = server.write(root, {**initial_doc(), "updated_at": "2026-03-03T10:30:00+07:00"})
    server.write(draft, corrected)
    phone.replicate_to(server)
    _, _, first = server.merge()
    assert first.doc["answers"]["fibre"] == "yes" and first.losing_revs == (leaf,)
    later = copy.deepcopy(losing)  # the phone has not pulled the merge yet
    later["answers"]["consent"] = "no"
    later["updated_at"] = "2026-03-03T12:00:00+07:00"
    phone.write(leaf, later)
    phone.replicate_to(server)
    _, _, second = server.merge()
    return second


def test_merge_records_keep_a_decision_when_a_stale_branch_is_edited():
    result = stale_branch_edit(use_merge_records=True)
    assert result.doc["answers"]["fibre"] == "yes"  # the reviewer's correction holds
    assert result.doc["answers"]["consent"] == "no"  # the phone's new edit is applied
    assert result.conflicts == ()


def test_without_merge_records_a_stale_branch_reopens_the_decision():
    # Why the ingest should pass `merged`: on CouchDB's single-parent tree the
    # phone's old value looks like a fresh change, and the later save wins.
    result = stale_branch_edit(use_merge_records=False)
    assert result.doc["answers"]["fibre"] == "mobile_only"
    assert [c.path for c in result.conflicts] == [("answers", "fibre")]
