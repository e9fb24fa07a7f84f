"""Photo flags reach the review queue (flagged first) and derivatives are served safely."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import event, select

from server.models import Photo, db
from tests.conftest import log_in, make_account
from tests.media.conftest import encode, exif_block
from tests.server.helpers import household_answers, photo_doc, photo_jpeg, survey_doc
from tests.server.test_ingest import put, run_ingest


def survey_with_photo(client, volunteer, image: bytes) -> str:
    photo = photo_doc("survey:x", image)
    survey = survey_doc(household_answers(photos=[photo["_id"]]), volunteer=volunteer.username)
    photo["survey_id"] = survey["_id"]
    put(client, volunteer, survey)
    put(client, volunteer, photo)
    return survey["_id"]


def test_reused_photo_is_flagged_and_listed_first(app, client, volunteer, reviewer):
    log_in(client, volunteer)
    original = survey_with_photo(client, volunteer, photo_jpeg(5, (1200, 900)))
    run_ingest(app)
    other = survey_with_photo(client, volunteer, photo_jpeg(9, (1000, 700)))
    run_ingest(app)
    reused = survey_with_photo(client, volunteer, photo_jpeg(5, (1200, 900)))
    run_ingest(app)
    log_in(client, reviewer)
    items = client.get("/api/submissions").get_json()["items"]
    assert items[0]["doc_id"] == reused
    assert "photo.reused" in [f["code"] for f in items[0]["flags"]]
    codes = {i["doc_id"]: [f["code"] for f in i["flags"]] for i in items}
    assert "photo.reused" not in codes[other]
    assert original in codes


def test_thumbnails_are_served_only_to_those_allowed(app, client, volunteer, reviewer):
    log_in(client, volunteer)
    survey_with_photo(client, volunteer, photo_jpeg(3))
    run_ingest(app)
    log_in(client, reviewer)
    sha = client.get("/api/submissions").get_json()["items"][0]["photos"][0]["sha256"]
    url = f"/media/{sha}/thumbnail.jpg"
    reply = client.get(url)
    assert reply.status_code == 200 and reply.mimetype == "image/jpeg"
    assert b"Exif" not in reply.data[:4096]
    assert "private" in reply.headers["Cache-Control"]
    log_in(client, volunteer)
    assert client.get(url).status_code == 200
    stranger = make_account(app, "volunteer", "tdp01")
    log_in(client, stranger)
    assert client.get(url).status_code == 403
    assert client.get("/media/..%2F..%2Fsecrets.json/thumbnail.jpg").status_code == 404
    assert client.get(f"/media/{sha}/original.jpg").status_code == 404


def test_media_reprocess_rederives_from_originals(app, client, volunteer):
    from media.store import derivative_key
    from server import services
    from server.models import Photo, db

    log_in(client, volunteer)
    survey_with_photo(client, volunteer, photo_jpeg(4, (2000, 1500)))
    run_ingest(app)
    with app.app_context():
        photo = db.session.execute(db.select(Photo)).scalar_one()
        store = services.photo_store()
        key = derivative_key(photo.sha256, "thumbnail")
        store.put_derivative(photo.sha256, "thumbnail", b"stale")
    result = app.test_cli_runner().invoke(args=["media", "reprocess"])
    assert result.exit_code == 0, result.output
    assert "1/1" in result.output
    with app.app_context():
        assert services.photo_store().get(key)[:2] == b"\xff\xd8"


def photo_taken(when: str) -> bytes:
    """A JPEG whose EXIF says only that it was taken at `when` ("YYYY:MM:DD hh:mm:ss")."""
    return encode(Image.open(io.BytesIO(photo_jpeg(6))), quality=85, exif=exif_block(
        taken_at=when, offset=None, gps=None, make=None, model=None))


def test_a_photo_that_came_before_its_survey_is_checked_when_the_survey_comes(
        app, client, volunteer):
    """The survey's page holds no photo, yet its photo, stored a page earlier, gets
    the checks that need the visit; pages whose surveys have no photos skip them."""
    log_in(client, volunteer)
    photo = photo_doc("survey:later", photo_taken("2020:01:02 08:00:00"))
    survey = survey_doc(household_answers(photos=[photo["_id"]]), volunteer=volunteer.username)
    photo["survey_id"] = survey["_id"]
    put(client, volunteer, photo)
    run_ingest(app)

    def flags() -> list[str]:
        with app.app_context():
            row = db.session.execute(select(Photo)).scalar_one()
            return [flag["code"] for flag in row.flags]

    assert "photo.taken_before_visit" not in flags()  # no visit to compare with yet
    put(client, volunteer, survey)
    run_ingest(app)
    assert "photo.taken_before_visit" in flags()

    photo_queries: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "FROM photos" in statement:
            photo_queries.append(statement)

    lone = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, lone)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert run_ingest(app) == 1
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    if engine.dialect.name == "postgresql":  # told by the page's own statement
        assert len(photo_queries) == 1 and "INSERT INTO submissions" in photo_queries[0]


def test_app_photo_is_checked_with_the_facts_the_phone_sent(app, client, volunteer, reviewer):
    # The app's copy has no EXIF (the canvas drops it); the phone sends the
    # capture time and place it read from the camera's file beside it.
    log_in(client, volunteer)
    photo = photo_doc("survey:x", photo_jpeg(6, (1600, 1200)))
    photo["taken_at"] = "2024-05-01T10:00:00+07:00"
    photo["gps"] = {"lat": 21.0285, "lon": 115.85, "accuracy": None}
    survey = survey_doc(household_answers(photos=[photo["_id"]]), volunteer=volunteer.username)
    survey["gps"] = {"lat": 20.2530, "lon": 105.9745, "accuracy": 10}
    photo["survey_id"] = survey["_id"]
    put(client, volunteer, survey)
    put(client, volunteer, photo)
    run_ingest(app)
    log_in(client, reviewer)
    [item] = client.get("/api/submissions").get_json()["items"]
    flags = {f["code"]: f for f in item["flags"]}
    assert set(flags) == {"photo.taken_before_visit", "photo.far_from_household"}
    assert {f["detail"]["source"] for f in flags.values()} == {"device"}


def test_deleted_photo_leaves_the_review_and_the_reuse_check(app, client, volunteer, reviewer):
    log_in(client, volunteer)
    image = photo_jpeg(7, (1200, 900))
    kept, dropped = photo_doc("survey:x", photo_jpeg(8)), photo_doc("survey:x", image)
    survey = survey_doc(household_answers(photos=[kept["_id"], dropped["_id"]]),
                        volunteer=volunteer.username)
    kept["survey_id"] = dropped["survey_id"] = survey["_id"]
    for doc in (survey, kept, dropped):
        doc["_rev"] = put(client, volunteer, doc)["rev"]
    run_ingest(app)
    # The volunteer removes the photo on the phone: the document is deleted
    # and the survey's answer no longer lists it.
    put(client, volunteer, {"_id": dropped["_id"], "_rev": dropped["_rev"], "_deleted": True})
    survey["answers"]["evidence_photo"] = [kept["_id"]]
    put(client, volunteer, survey)
    run_ingest(app)
    # The same picture, now taken for another household, is not "reused".
    moved = survey_with_photo(client, volunteer, image)
    run_ingest(app)
    log_in(client, reviewer)
    items = {i["doc_id"]: i for i in client.get("/api/submissions").get_json()["items"]}
    assert [p["doc_id"] for p in items[survey["_id"]]["photos"]] == [kept["_id"]]
    assert items[survey["_id"]]["photos_pending"] == 0
    assert "photo.reused" not in [f["code"] for f in items[moved]["flags"]]
    with app.app_context():
        row = db.session.execute(select(Photo).where(Photo.doc_id == dropped["_id"])).scalar_one()
        assert row.deleted_rev is not None  # kept for the record, out of the review


def test_reuse_check_reads_only_the_photos_its_index_files_near(app):
    import secrets

    from media.measures import CROP_BOXES
    from server.actions.photos import reuse_candidates
    from server.queries.photo_index import index_photos

    near = secrets.token_hex(18)
    close = f"{int(near, 16) ^ 0b1011_0000_0001_0001_0000_0011:036x}"  # 7 bits apart
    with app.app_context():
        rows = [Photo(couch_db="userdb-x", doc_id=f"photo:{i}", survey_doc_id=f"survey:{i}",
                      volunteer="x", sha256=secrets.token_hex(32), phash=secrets.token_hex(18))
                for i in range(2000)]
        rows.append(Photo(couch_db="userdb-x", doc_id="photo:near", survey_doc_id="survey:near",
                          volunteer="x", sha256="b" * 64, phash=close))
        rows.append(Photo(couch_db="userdb-x", doc_id="photo:same", survey_doc_id="survey:same",
                          volunteer="x", sha256="a" * 64, phash=None))
        db.session.add_all(rows)
        db.session.flush()
        index_photos([(row.id, row.phash) for row in rows])
        db.session.commit()
        found = reuse_candidates({"phash": near, "sha256": "a" * 64,
                                  "crop_hashes": "".join(secrets.token_hex(18)
                                                         for _ in CROP_BOXES)})
    ids = {entry["photo_id"] for entry in found}
    assert {"photo:near", "photo:same"} <= ids
    assert len(ids) < 20  # of 2002 stored: the near ones, not all of them
