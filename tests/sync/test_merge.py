"""Examples for every rule of the field-by-field merge (sync.merge)."""

import itertools
import json

import pytest

from sync.merge import (
    Conflict,
    Leaf,
    Version,
    history_from_revisions,
    merge_revisions,
    nearest_common_ancestor,
    parse_rev,
    winning_rev,
)

MEMBER_A = "0b7d6c1e-1111-4a55-9c2e-5b1f1e3f9a01"
MEMBER_B = "0b7d6c1e-2222-4a55-9c2e-5b1f1e3f9a02"
MEMBER_C = "0b7d6c1e-3333-4a55-9c2e-5b1f1e3f9a03"


def survey(answers: dict, updated_at: str = "2026-03-02T09:00:00+07:00", **top) -> dict:
    doc = {
        "_id": "survey:5d0c7a4e-9f0e-4c57-8a3f-2b1ad3c9e001",
        "type": "survey",
        "form_id": "household",
        "form_version": "2026.1",
        "status": "final",
        "volunteer": "lan.nguyen",
        "device_id": "phone-1",
        "created_at": "2026-03-02T08:30:00+07:00",
        "updated_at": updated_at,
        "gps": {"lat": 20.2506, "lon": 105.9745, "accuracy": 8},
        "answers": answers,
    }
    doc.update(top)
    return doc


def member(row_id: str, **answers) -> dict:
    return {"_row": row_id, **answers}


BASE_ANSWERS = {
    "consent": "yes",
    "residential_group": "tdp03",
    "address": "Số 12 ngõ 5 đường Trần Hưng Đạo",
    "fibre": "mobile_only",
    "evidence_photo": ["photo:aa"],
    "members": [
        member(MEMBER_A, name="Nguyễn Văn An", age=52, smartphone="own", vneid="level1"),
        member(MEMBER_B, name="Trần Thị Bình", age=49, smartphone="shared", vneid="none"),
    ],
}


def base() -> dict:
    return survey(json.loads(json.dumps(BASE_ANSWERS)), updated_at="2026-03-02T08:45:00+07:00")


def edited(rev: str, updated_at: str, change, author: str | None = None) -> Leaf:
    doc = base()
    doc["updated_at"] = updated_at
    doc["_rev"] = rev
    change(doc["answers"])
    return Leaf(rev=rev, doc=doc, author=author)


def set_answer(name, value):
    def change(answers):
        answers[name] = value
    return change


def row(answers, row_id):
    return next(r for r in answers["members"] if r["_row"] == row_id)


def all_orders(leaves):
    results = [merge_revisions(base(), list(order)) for order in itertools.permutations(leaves)]
    assert all(r == results[0] for r in results[1:])
    return results[0]


PHONE = "2026-03-03T10:00:00+07:00"
LATER = "2026-03-03T11:00:00+07:00"


def test_changes_on_different_answers_are_all_kept():
    a = edited("3-aaa", PHONE, set_answer("fibre", "yes"))
    b = edited("3-bbb", LATER, set_answer("consent", "no"))
    result = all_orders([a, b])
    assert result.doc["answers"]["fibre"] == "yes"
    assert result.doc["answers"]["consent"] == "no"
    assert result.conflicts == ()


def test_same_change_on_both_sides_is_no_conflict():
    a = edited("3-aaa", PHONE, set_answer("fibre", "yes"))
    b = edited("3-bbb", LATER, set_answer("fibre", "yes"))
    result = all_orders([a, b])
    assert result.doc["answers"]["fibre"] == "yes"
    assert result.conflicts == ()


def test_later_updated_at_wins_and_loser_is_recorded():
    phone = edited("4-fff", PHONE, set_answer("fibre", "no"), author="lan.nguyen")
    reviewer = edited("3-111", LATER, set_answer("fibre", "yes"), author="reviewer.hoa")
    result = all_orders([phone, reviewer])
    assert result.doc["answers"]["fibre"] == "yes"
    assert result.conflicts == (
        Conflict(
            path=("answers", "fibre"),
            winner=Version("3-111", "yes", author="reviewer.hoa", updated_at=LATER),
            losers=(Version("4-fff", "no", author="lan.nguyen", updated_at=PHONE),),
        ),
    )
    # The winning rev to write on is still CouchDB's: highest generation.
    assert result.winner_rev == "4-fff"
    assert result.losing_revs == ("3-111",)


def test_updated_at_compares_instants_not_text():
    # 10:30+07:00 is 03:30Z, earlier than 04:00Z although it sorts later as text.
    a = edited("3-aaa", "2026-03-03T10:30:00+07:00", set_answer("fibre", "no"))
    b = edited("3-bbb", "2026-03-03T04:00:00Z", set_answer("fibre", "yes"))
    assert all_orders([a, b]).doc["answers"]["fibre"] == "yes"


def test_equal_times_go_to_higher_generation_then_larger_hash():
    a = edited("5-aaa", PHONE, set_answer("fibre", "no"))
    b = edited("4-zzz", PHONE, set_answer("fibre", "yes"))
    assert all_orders([a, b]).doc["answers"]["fibre"] == "no"
    c = edited("5-abc", PHONE, set_answer("fibre", "no"))
    d = edited("5-abd", PHONE, set_answer("fibre", "yes"))
    assert all_orders([c, d]).doc["answers"]["fibre"] == "yes"


def test_missing_or_bad_updated_at_ranks_earliest():
    a = edited("9-aaa", "not a time", set_answer("fibre", "no"))
    b = edited("3-bbb", PHONE, set_answer("fibre", "yes"))
    assert all_orders([a, b]).doc["answers"]["fibre"] == "yes"


def test_leaf_updated_at_overrides_the_documents():
    a = edited("3-aaa", LATER, set_answer("fibre", "no"))
    b = edited("3-bbb", PHONE, set_answer("fibre", "yes"))
    b = Leaf(rev=b.rev, doc=b.doc, updated_at="2026-03-04T00:00:00+07:00")
    assert all_orders([a, b]).doc["answers"]["fibre"] == "yes"


def test_deleting_an_answer_is_a_change():
    a = edited("3-aaa", PHONE, lambda answers: answers.pop("fibre"))
    b = edited("3-bbb", PHONE, set_answer("consent", "no"))
    assert "fibre" not in all_orders([a, b]).doc["answers"]


def test_delete_against_edit_follows_the_rule_and_keeps_the_value():
    a = edited("3-aaa", LATER, lambda answers: answers.pop("fibre"))
    b = edited("3-bbb", PHONE, set_answer("fibre", "yes"))
    result = all_orders([a, b])
    assert "fibre" not in result.doc["answers"]
    (conflict,) = result.conflicts
    assert conflict.winner == Version("3-aaa", None, deleted=True, updated_at=LATER)
    assert conflict.losers == (Version("3-bbb", "yes", updated_at=PHONE),)


def test_null_answer_differs_from_absent_answer():
    a = edited("3-aaa", LATER, set_answer("fibre", None))
    b = edited("3-bbb", PHONE, lambda answers: None)
    result = all_orders([a, b])
    assert result.doc["answers"]["fibre"] is None


def test_rows_added_on_both_sides_are_kept():
    a = edited("3-aaa", PHONE, lambda answers: answers["members"].append(
        member(MEMBER_C, name="Nguyễn Minh Châu", age=17)))
    b = edited("3-bbb", LATER, lambda answers: answers["members"].append(
        member("row-from-b", name="Lê Văn Dũng", age=80)))
    result = all_orders([a, b])
    ids = [r["_row"] for r in result.doc["answers"]["members"]]
    # Order follows the best-ranked leaf, then rows only the others have.
    assert ids == [MEMBER_A, MEMBER_B, "row-from-b", MEMBER_C]
    assert result.conflicts == ()


def test_row_deleted_on_one_side_and_untouched_on_the_other_is_deleted():
    a = edited("3-aaa", PHONE, lambda answers: answers["members"].pop(1))
    b = edited("3-bbb", LATER, set_answer("fibre", "yes"))
    result = all_orders([a, b])
    assert [r["_row"] for r in result.doc["answers"]["members"]] == [MEMBER_A]
    assert result.conflicts == ()


def test_edits_to_different_fields_of_one_row_are_both_kept():
    a = edited("3-aaa", PHONE, lambda answers: row(answers, MEMBER_A).update(vneid="level2"))
    b = edited("3-bbb", LATER, lambda answers: row(answers, MEMBER_A).update(age=53))
    merged = row(all_orders([a, b]).doc["answers"], MEMBER_A)
    assert merged["vneid"] == "level2" and merged["age"] == 53


def test_rows_match_by_id_not_position():
    def reorder_and_edit(answers):
        answers["members"].reverse()
        row(answers, MEMBER_B).update(vneid="level2")

    a = edited("3-aaa", PHONE, reorder_and_edit)
    b = edited("3-bbb", LATER, lambda answers: row(answers, MEMBER_A).update(age=53))
    merged = all_orders([a, b]).doc["answers"]
    assert row(merged, MEMBER_A)["age"] == 53
    assert row(merged, MEMBER_B)["vneid"] == "level2"


def test_row_deleted_against_row_edited_follows_the_rule():
    delete = edited("3-aaa", LATER, lambda answers: answers["members"].pop(1))
    edit = edited("3-bbb", PHONE, lambda answers: row(answers, MEMBER_B).update(age=50))
    result = all_orders([delete, edit])
    assert [r["_row"] for r in result.doc["answers"]["members"]] == [MEMBER_A]
    (conflict,) = result.conflicts
    assert conflict.path == ("answers", "members", f"_row={MEMBER_B}")
    assert conflict.winner.deleted
    assert conflict.losers[0].value["age"] == 50


def test_row_edit_later_than_its_deletion_keeps_the_row():
    delete = edited("3-aaa", PHONE, lambda answers: answers["members"].pop(1))
    edit = edited("3-bbb", LATER, lambda answers: row(answers, MEMBER_B).update(age=50))
    result = all_orders([delete, edit])
    assert row(result.doc["answers"], MEMBER_B)["age"] == 50
    (conflict,) = result.conflicts
    assert conflict.losers == (Version("3-aaa", None, deleted=True, updated_at=PHONE),)


def test_lists_of_plain_values_merge_as_sets():
    a = edited("3-aaa", PHONE, set_answer("evidence_photo", ["photo:aa", "photo:bb"]))
    b = edited("3-bbb", LATER, set_answer("evidence_photo", ["photo:cc"]))
    result = all_orders([a, b])
    # b removed photo:aa, a kept it untouched: removed. Both additions stay.
    assert result.doc["answers"]["evidence_photo"] == ["photo:cc", "photo:bb"]
    assert result.conflicts == ()


def test_select_multiple_keeps_options_chosen_on_either_side():
    def choose(*options):
        return set_answer("skills_training", list(options))

    anc = base()
    anc["answers"]["skills_training"] = ["class"]
    a = edited("3-aaa", PHONE, choose("class", "online"))
    b = edited("3-bbb", LATER, choose("class", "community"))
    for leaf in (a, b):
        assert leaf.doc["answers"]["skills_training"][0] == "class"
    result = merge_revisions(anc, [a, b])
    assert sorted(result.doc["answers"]["skills_training"]) == ["class", "community", "online"]


def test_set_emptied_on_one_side_keeps_what_the_other_added():
    a = edited("3-aaa", LATER, lambda answers: answers.pop("evidence_photo"))
    b = edited("3-bbb", PHONE, set_answer("evidence_photo", ["photo:aa", "photo:dd"]))
    assert all_orders([a, b]).doc["answers"]["evidence_photo"] == ["photo:dd"]


def test_set_emptied_everywhere_takes_the_best_ranked_form():
    a = edited("3-aaa", LATER, lambda answers: answers.pop("evidence_photo"))
    b = edited("3-bbb", PHONE, set_answer("evidence_photo", []))
    assert "evidence_photo" not in all_orders([a, b]).doc["answers"]


def test_geopoints_and_other_objects_are_one_value():
    a = edited("3-aaa", PHONE, set_answer("home_gps", {"lat": 20.1, "lon": 105.9, "accuracy": 5}))
    b = edited("3-bbb", LATER, set_answer("home_gps", {"lat": 20.2, "lon": 105.8, "accuracy": 9}))
    result = all_orders([a, b])
    assert result.doc["answers"]["home_gps"] == {"lat": 20.2, "lon": 105.8, "accuracy": 9}
    assert result.conflicts[0].losers[0].value == {"lat": 20.1, "lon": 105.9, "accuracy": 5}


def test_rows_without_ids_merge_as_one_value():
    def legacy(rows):
        return set_answer("members", rows)

    a = edited("3-aaa", PHONE, legacy([{"name": "Nguyễn Văn An"}]))
    b = edited("3-bbb", LATER, legacy([{"name": "Nguyễn Văn An"}, {"name": "Lê Thị Lan"}]))
    result = all_orders([a, b])
    assert len(result.doc["answers"]["members"]) == 2
    assert result.conflicts[0].losers[0].value == [{"name": "Nguyễn Văn An"}]


def test_an_answer_that_changed_type_is_one_value():
    a = edited("3-aaa", LATER, set_answer("fibre", ["yes"]))
    b = edited("3-bbb", PHONE, set_answer("fibre", "no"))
    result = all_orders([a, b])
    assert result.doc["answers"]["fibre"] == ["yes"]
    assert result.conflicts[0].losers[0].value == "no"


def test_a_leaf_without_answers_does_not_delete_them():
    a = edited("3-aaa", LATER, set_answer("fibre", "yes"))
    b = edited("3-bbb", PHONE, set_answer("fibre", "no"))
    del b.doc["answers"]
    result = all_orders([a, b])
    assert result.doc["answers"] == a.doc["answers"]
    assert result.conflicts == ()


def test_top_level_fields_merge_three_way():
    def top(rev, updated_at, **changes):
        doc = base()
        doc.update(updated_at=updated_at, **changes)
        return Leaf(rev=rev, doc=doc)

    result = all_orders([top("3-aaa", PHONE, status="draft"), top("3-bbb", LATER, device_id="x")])
    assert result.doc["status"] == "draft"
    assert result.doc["device_id"] == "x"


def test_updated_at_is_never_a_conflict_and_takes_the_latest():
    a = edited("3-aaa", LATER, set_answer("fibre", "yes"))
    b = edited("3-bbb", PHONE, set_answer("consent", "no"))
    result = all_orders([a, b])
    assert result.doc["updated_at"] == LATER
    assert result.conflicts == ()


def test_couchdb_bookkeeping_is_dropped_and_attachments_follow_the_winner():
    a = edited("3-aaa", PHONE, set_answer("fibre", "yes"))
    b = edited("3-bbb", LATER, set_answer("consent", "no"))
    a.doc["_conflicts"] = ["3-bbb"]
    a.doc["_revisions"] = {"start": 3, "ids": ["aaa", "x", "y"]}
    b.doc["_attachments"] = {"sketch.png": {"stub": True, "revpos": 2}}
    result = all_orders([a, b])
    assert result.winner_rev == "3-bbb"
    assert sorted(k for k in result.doc if k.startswith("_")) == ["_attachments", "_id"]


def test_attachments_only_a_loser_holds_are_recorded():
    a = edited("4-aaa", PHONE, set_answer("fibre", "yes"))
    b = edited("3-bbb", LATER, set_answer("consent", "no"))
    a.doc["_attachments"] = {"a.jpg": {"stub": True, "digest": "md5-A", "revpos": 4}}
    b.doc["_attachments"] = {
        "a.jpg": {"stub": True, "digest": "md5-A", "revpos": 2},
        "b.jpg": {"stub": True, "digest": "md5-B", "revpos": 3},
    }
    result = all_orders([a, b])
    assert result.doc["_attachments"] == a.doc["_attachments"]
    (conflict,) = result.conflicts
    assert conflict.path == ("_attachments", "b.jpg")
    assert conflict.winner.deleted and conflict.losers[0].value["digest"] == "md5-B"


def test_unknown_ancestor_keeps_everything_and_records_disagreements():
    a = edited("3-aaa", PHONE, lambda answers: answers.pop("fibre"))
    b = edited("3-bbb", LATER, set_answer("consent", "no"))
    b.doc["answers"]["members"].pop()
    results = [merge_revisions(None, list(p)) for p in itertools.permutations([a, b])]
    assert results[0] == results[1]
    merged = results[0].doc["answers"]
    assert merged["fibre"] == "mobile_only"  # absent on one side is not a deletion
    assert len(merged["members"]) == 2
    assert [c.path for c in results[0].conflicts] == [("answers", "consent")]


def test_three_leaves():
    a = edited("3-aaa", "2026-03-03T09:00:00+07:00", set_answer("fibre", "no"))
    b = edited("3-bbb", "2026-03-03T10:00:00+07:00", set_answer("fibre", "yes"))
    c = edited("4-ccc", "2026-03-03T08:00:00+07:00", lambda answers: answers["members"].pop(0))
    result = all_orders([a, b, c])
    assert result.doc["answers"]["fibre"] == "yes"
    assert [r["_row"] for r in result.doc["answers"]["members"]] == [MEMBER_B]
    assert [v.rev for v in result.conflicts[0].losers] == ["3-aaa"]
    assert result.winner_rev == "4-ccc"
    assert result.losing_revs == ("3-bbb", "3-aaa")


def test_one_leaf_is_returned_as_is():
    leaf = edited("3-aaa", PHONE, set_answer("fibre", "yes"))
    result = merge_revisions(base(), [leaf])
    expected = {k: v for k, v in leaf.doc.items() if k != "_rev"}
    assert result.doc == expected
    assert result.losing_revs == () and result.conflicts == ()


def test_result_does_not_share_objects_with_the_input():
    a = edited("3-aaa", PHONE, set_answer("fibre", "yes"))
    b = edited("3-bbb", LATER, set_answer("consent", "no"))
    result = merge_revisions(base(), [a, b])
    result.doc["answers"]["members"][0]["age"] = 1
    assert a.doc["answers"]["members"][0]["age"] == 52


def test_record_is_json():
    a = edited("3-aaa", PHONE, set_answer("fibre", "no"))
    b = edited("3-bbb", LATER, set_answer("fibre", "yes"))
    record = merge_revisions(base(), [a, b]).record()
    assert json.loads(json.dumps(record)) == record
    assert record["conflicts"][0]["path"] == ["answers", "fibre"]


@pytest.mark.parametrize("leaves, message", [
    ([], "at least one"),
    ([Leaf("1-a", {"_id": "x"}), Leaf("1-a", {"_id": "x"})], "duplicate"),
    ([Leaf("1-a", {"_id": "x"}), Leaf("1-b", {"_id": "y"})], "different documents"),
    ([Leaf("a", {"_id": "x"})], "not a CouchDB revision"),
    ([Leaf("1-a", {"_id": "x"}), Leaf("2-b", {"_id": "x", "_deleted": True})], "live leaves"),
])
def test_bad_input_is_refused(leaves, message):
    with pytest.raises(ValueError, match=message):
        merge_revisions(None, leaves)


def test_rev_helpers():
    assert parse_rev("12-abc") == (12, "abc")
    assert winning_rev(["2-b", "10-a", "10-9f"]) == "10-a"
    history = history_from_revisions({"start": 4, "ids": ["d", "c", "b", "a"]})
    assert history == ["4-d", "3-c", "2-b", "1-a"]


def test_nearest_common_ancestor():
    a = ["4-a", "3-x", "2-y", "1-z"]
    b = ["5-b", "4-bb", "3-x", "2-y", "1-z"]
    c = ["3-c", "2-y", "1-z"]
    assert nearest_common_ancestor([a, b]) == "3-x"
    assert nearest_common_ancestor([a, b, c]) == "2-y"
    assert nearest_common_ancestor([a, b], known={"1-z", "2-y"}) == "2-y"
    assert nearest_common_ancestor([a, ["2-q", "1-q"]]) is None
    assert nearest_common_ancestor([]) is None
