"""Who may see which photo."""

from __future__ import annotations

from media.flags import photo_flags
from media.measures import probe_keys
from media.store import PhotoMissing, derivative_key
from server import services
from server.actions.auth import Actor
from server.errors import problem
from server.queries.photo_index import near_photos
from server.queries.submissions import (
    get_photo_by_sha,
    photos_for_surveys,
    set_photo_flags,
    submissions_by_doc,
)


def derivative_for(actor: Actor | None, sha256: str, kind: str) -> bytes:
    """A photo derivative, for reviewers, admins and the volunteer who took it."""
    if actor is None:
        raise problem("login_required")
    photos = get_photo_by_sha(sha256)
    if not photos:
        raise problem("not_found")
    if actor.role == "volunteer" and all(p.couch_db != actor.couch_db for p in photos):
        raise problem("forbidden")
    try:
        return services.photo_store().get(derivative_key(sha256, kind))
    except PhotoMissing as err:
        raise problem("not_found") from err


def refresh_flags(couch_db: str, survey_ids: list[str]) -> None:
    """Recompute the flags of these surveys' photos from what is known now.

    Called whenever a survey or one of its photos arrives, so a photo that
    came before its survey gets its time and place checks once the survey is in.
    """
    photos = photos_for_surveys([(couch_db, survey_id) for survey_id in survey_ids])
    by_survey: dict[str, list] = {}
    for photo in photos:
        by_survey.setdefault(photo.survey_doc_id, []).append(photo)
    if not by_survey:
        return
    surveys = submissions_by_doc(couch_db, sorted(by_survey))
    for survey_id in sorted(by_survey):
        survey = surveys.get(survey_id)
        visit = {"survey_id": survey_id,
                 "visited_at": survey.visited_at if survey else None,
                 "gps": survey.gps if survey else None, "group": None}
        for photo in by_survey[survey_id]:
            set_photo_flags(photo, [flag.as_dict() for flag in photo_flags(
                photo.facts, visit, reuse_candidates(photo.facts))])


def reuse_candidates(facts: dict) -> list[dict]:
    """The stored photos worth comparing with this one: those the reuse index
    files near its hashes, and those with its very bytes. Index lookups, so
    the cost stays the same however many photos are stored."""
    phash, crops = facts.get("phash"), facts.get("crop_hashes")
    keys = probe_keys(phash, crops if isinstance(crops, str) else None) \
        if isinstance(phash, str) else []
    return near_photos(keys, facts.get("sha256"))
