"""Page-sized statements with one JSON parameter give what plain IN lists and inserts give."""

from __future__ import annotations

from sqlalchemy import select, text

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


def test_revision_number_in_sql_is_the_python_one(app):
    """The one rule (sync.merge.revision_number) and its SQL forms agree."""
    from sqlalchemy import literal, text

    from server.queries.bulk import dialect_name, revision_number, revision_number_sql
    from sync.merge import revision_number as in_python

    revs = ["3-abc", "10-x", "1-", "12", "abc", "", "12abc-x", "-5", "007-x", "4-5-6", "٣-x"]
    with app.app_context():
        for rev in revs:
            in_sql = db.session.execute(select(revision_number(literal(rev)))).scalar_one()
            assert int(in_sql) == in_python(rev), rev
            if dialect_name() == "postgresql":
                as_text = db.session.execute(text(f"SELECT {revision_number_sql(':rev')}"),
                                             {"rev": rev}).scalar_one()
                assert int(as_text) == in_python(rev), rev


def test_a_survey_row_moves_only_forward(app, volunteer):
    from server.ingest_store import SqlIngestStore
    from server.models import Submission
    from sync.ingest import SurveyRevision
    from tests.server.helpers import household_answers, survey_doc

    doc = survey_doc(household_answers(), volunteer=volunteer.username)

    def send(rev: str, size: int) -> Submission:
        sent = dict(doc, _rev=rev, answers=dict(doc["answers"], household_size=size))
        SqlIngestStore().apply(volunteer.couch_db, [SurveyRevision(volunteer.couch_db, sent,
                                                                   [])], rev)
        db.session.expire_all()
        return db.session.execute(select(Submission)).scalar_one()

    with app.app_context():
        row = send("3-c", 3)
        assert (row.rev, row.answers["household_size"], row.review_state) == ("3-c", 3,
                                                                             "pending")
        received = row.received_at
        row.review_state = "approved"
        db.session.commit()
        row = send("2-b", 2)  # older: ignored
        assert (row.rev, row.answers["household_size"], row.review_state) == ("3-c", 3,
                                                                             "approved")
        row = send("3-c", 3)  # the same again: still approved
        assert (row.rev, row.review_state) == ("3-c", "approved")
        row = send("10-d", 10)  # newer (10 > 3, not as text): replaces, pending again
        assert (row.rev, row.answers["household_size"], row.review_state) == ("10-d", 10,
                                                                             "pending")
        assert row.received_at == received


def test_a_page_with_several_revisions_of_a_survey(app, volunteer):
    """Each revision is stored once, and the survey's row takes the page's newest one,
    whatever their order in the page (on PostgreSQL the page is one JSON parameter
    that one statement reads for both tables)."""
    from server.ingest_store import SqlIngestStore
    from server.models import Submission, SubmissionRevision
    from sync.ingest import SurveyRevision
    from tests.server.helpers import household_answers, survey_doc

    first = survey_doc(household_answers(), volunteer=volunteer.username)
    other = survey_doc(household_answers(), volunteer=volunteer.username)

    def revision(doc: dict, rev: str, size: int) -> SurveyRevision:
        sent = dict(doc, _rev=rev, answers=dict(doc["answers"], household_size=size))
        return SurveyRevision(volunteer.couch_db, sent, [{"path": "x", "size": size}])

    page = [revision(first, "2-b", 2), revision(other, "1-a", 1), revision(first, "10-d", 10),
            revision(first, "2-b", 2), revision(first, "9-c", 9), revision(other, "1-a", 1)]
    with app.app_context():
        SqlIngestStore().apply(volunteer.couch_db, page, 6)
        db.session.expire_all()
        stored = sorted((row.doc_id == first["_id"], row.rev) for row in db.session.execute(
            select(SubmissionRevision)).scalars())
        assert stored == [(False, "1-a"), (True, "10-d"), (True, "2-b"), (True, "9-c")]
        rows = {row.doc_id: row for row in db.session.execute(select(Submission)).scalars()}
        assert (rows[first["_id"]].rev, rows[first["_id"]].answers["household_size"],
                rows[first["_id"]].errors) == ("10-d", 10, [{"path": "x", "size": 10}])
        assert (rows[other["_id"]].rev, rows[other["_id"]].volunteer) == (
            "1-a", volunteer.username)


def test_bodies_of_a_page_are_stored_exactly(app, volunteer):
    """What a page's JSON parameter carries comes back as it was sent: awkward text,
    and an integer beyond 64 bits (JSON allows it; the fast encoder refuses it, and
    that page is encoded the slow way)."""
    from server.ingest_store import SqlIngestStore
    from server.models import SubmissionRevision
    from sync.ingest import SurveyRevision
    from tests.server.helpers import household_answers, survey_doc

    awkward = survey_doc(household_answers(), volunteer=volunteer.username)
    awkward["answers"]["volunteer_note"] = " ".join(AWKWARD[:-1])  # PostgreSQL keeps no NUL
    awkward["float"], awkward["nested"] = 0.1 + 0.2, {"k": [1, [2.5e-300, {"": None}]]}
    huge = survey_doc(household_answers(), volunteer=volunteer.username)
    huge["count"] = 2**70 + 1
    awkward["_rev"], huge["_rev"] = "1-a", "1-b"
    with app.app_context():
        store = SqlIngestStore()
        for seq, doc in enumerate((awkward, huge), 1):
            store.apply(volunteer.couch_db, [SurveyRevision(volunteer.couch_db, doc, [])], seq)
        db.session.expire_all()
        stored = {row.doc_id: row.body for row in db.session.execute(
            select(SubmissionRevision)).scalars()}
    assert stored == {awkward["_id"]: awkward, huge["_id"]: huge}
    assert stored[huge["_id"]]["count"] == 2**70 + 1


def test_insert_rows_stores_what_sqlalchemys_own_insert_stores(app):
    """`insert_rows` (on SQLite the compiled statement run over tuples it binds
    itself, on PostgreSQL one JSON parameter) gives the rows SQLAlchemy's own
    executemany gives: JSON values (None, awkward text, an integer beyond 64 bits),
    times, defaults filled in, and the conflict clause's
    own constants (the survey row moves only to a newer revision)."""
    from sqlalchemy import text

    from server.models import Submission, utcnow
    from server.queries.bulk import dialect_insert
    from server.queries.ingest import _newer_revision_wins

    now = utcnow()
    whole_second = now.replace(microsecond=0)  # stored with its ".000000" all the same

    def rows(couch_db: str, rev: str) -> list[dict]:
        # PostgreSQL keeps no NUL in text; SQLite does. A lone surrogate: see below.
        extra = [] if db.session.get_bind().dialect.name == "postgresql" else ["a\x00b"]
        values = [*AWKWARD[:-1], *extra, 2**70 + 1, None, {"n": [1.5, None, True]}]
        return [{"couch_db": couch_db, "doc_id": f"s{i}", "volunteer": "v", "rev": rev,
                 "answers": {"value": value}, "gps": value if i % 2 else None,
                 "received_at": now if i % 3 else whole_second, "updated_at": now,
                 "status": "submitted",
                 "form_id": "household", "form_version": 1, "residential_group": None,
                 "visited_at": AWKWARD[i % 6]}
                for i, value in enumerate(values)]

    def stored(couch_db: str) -> list[tuple]:
        db.session.expire_all()
        found = db.session.execute(select(Submission).where(Submission.couch_db == couch_db)
                                   .order_by(Submission.doc_id)).scalars()
        return [(row.doc_id, row.rev, row.answers, row.gps, row.errors, row.received_at,
                 row.review_state, row.visited_at) for row in found]

    with app.app_context():
        for rev in ("2-b", "1-a", "10-c"):  # the second is older: no change
            insert_rows(Submission, rows("ours", rev), _newer_revision_wins)
            db.session.execute(_newer_revision_wins(dialect_insert(Submission.__table__)),
                               rows("theirs", rev))
            db.session.commit()
            ours, theirs = stored("ours"), stored("theirs")
            assert ours and ours == theirs
        assert {row[1] for row in ours} == {"10-c"}
        if db.session.get_bind().dialect.name == "sqlite":  # the way compared is the one taken
            from server.queries.bulk import _sqlite_insert
            assert _sqlite_insert(Submission.__table__, rows("direct", "1-a"),
                                  _newer_revision_wins)
        # Times stored alike, and on SQLite the same JSON nulls (SQLAlchemy binds None as
        # JSON null; PostgreSQL's page parameter gives SQL NULL, read back as None too).
        null = "gps IS NULL" if db.session.get_bind().dialect.name == "sqlite" else "0"
        raw = f"SELECT doc_id, {null}, received_at FROM submissions WHERE couch_db = '{{}}'"
        assert (db.session.execute(text(raw.format("ours"))).all()
                == db.session.execute(text(raw.format("theirs"))).all())


def test_a_lone_surrogate_is_stored_as_a_replacement_character_everywhere(app):
    """Half of a UTF-16 pair is no character: PostgreSQL refuses it, SQLite kept it.
    Both now store U+FFFD in its place, in values and keys, whichever way the rows go."""
    from server.models import Submission
    from server.queries.ingest import _newer_revision_wins

    answers = {"t": "a\ud800b", "k\udc00": ["\udfff😀"], "n": 2**70}
    row = {"couch_db": "c", "doc_id": "s", "volunteer": "v", "rev": "1-a", "answers": answers,
           "status": "final", "form_id": "household", "form_version": "1"}
    with app.app_context():
        insert_rows(Submission, [row], _newer_revision_wins)
        db.session.commit()
        db.session.expire_all()
        stored = db.session.execute(select(Submission.answers)).scalar_one()
    assert stored == {"t": "a\ufffdb", "k\ufffd": ["\ufffd😀"], "n": 2**70}
    assert answers["t"] == "a\ud800b"  # what was given is not changed


def test_insert_rows_with_a_conflict_clause_expanded_when_run(app):
    """A conflict clause whose parameter SQLAlchemy expands when it runs the
    statement (an IN list) is run the usual way on SQLite, not sent unexpanded
    (SQLAlchemy expands it for a page of one row only)."""
    from sqlalchemy import JSON

    from server.models import utcnow
    from server.queries.bulk import _sqlite_insert, dialect_insert

    def unless_listed(insert):
        return insert.on_conflict_do_update(
            index_elements=["couch_db"], set_={"seq": insert.excluded.seq},
            where=Checkpoint.couch_db.not_in(["kept", "other"]))

    with app.app_context():
        for seq in (1, 2):
            for name in ("kept", "moved"):
                insert_rows(Checkpoint, [{"couch_db": name, "seq": {"seq": seq},
                                          "updated_at": utcnow()}], unless_listed)
        db.session.commit()
        stored = dict(db.session.execute(select(Checkpoint.couch_db, Checkpoint.seq)).all())
        assert stored == {"kept": {"seq": 1}, "moved": {"seq": 2}}
        if db.session.get_bind().dialect.name == "sqlite":
            rows = [{"couch_db": "x", "seq": 1, "updated_at": utcnow()}]
            assert not _sqlite_insert(Checkpoint.__table__, rows, unless_listed)
            # SQLAlchemy's JSON null marker binds as its JSON type binds it.
            insert_rows(Checkpoint, [{"couch_db": "null", "seq": JSON.NULL,
                                      "updated_at": utcnow()}])
            db.session.execute(dialect_insert(Checkpoint.__table__), [
                {"couch_db": "null-theirs", "seq": JSON.NULL, "updated_at": utcnow()}])
            raw = db.session.execute(text(
                "SELECT couch_db, seq FROM checkpoints WHERE couch_db LIKE 'null%'")).all()
            assert sorted(raw) == [("null", "null"), ("null-theirs", "null")]
