"""Page-sized statements with one JSON parameter give what plain IN lists and inserts give."""

from __future__ import annotations

from sqlalchemy import select

from server.models import Checkpoint, db
from server.queries.bulk import insert_rows, one_of

AWKWARD = ["userdb-1", "Lê Lợi \"ngõ\" 5", "a'b", "back\\slash", "😀", "", "nul\x00x"]


def test_one_of_matches_exactly_the_values_given(app):
    with app.app_context():
        names = [f"{value}-db" for value in AWKWARD[:6]] + ["other-1", "other-2"]
        db.session.add_all(Checkpoint(couch_db=name, seq={"seq": i})
                           for i, name in enumerate(names))
        db.session.commit()
        for wanted in ([], names[:1], names[:6], names[:7], names[5:], ["missing"],
                       [names[0], "nul\x00x-db"]):
            found = set(db.session.execute(select(Checkpoint.couch_db).where(
                one_of(Checkpoint.couch_db, wanted))).scalars())
            assert found == set(wanted) & set(names), wanted


def test_insert_rows_of_a_page(app):
    rows = [{"couch_db": f"{value}-db", "seq": {"seq": [i, value]}} for i, value in
            enumerate(AWKWARD[:6])]
    with app.app_context():
        insert_rows(Checkpoint, rows)
        insert_rows(Checkpoint, [{"couch_db": "nul-db", "seq": {"seq": "a\x00b"}}])
        db.session.commit()
        stored = {row.couch_db: row.seq for row in db.session.execute(
            select(Checkpoint)).scalars()}
    assert stored == {**{row["couch_db"]: row["seq"] for row in rows},
                      "nul-db": {"seq": "a\x00b"}}
