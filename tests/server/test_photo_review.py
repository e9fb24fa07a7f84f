"""Photo flags reach the review queue (flagged first) and derivatives are served safely."""

from __future__ import annotations

from tests.conftest import log_in, make_account
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
