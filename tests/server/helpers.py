"""Builders shared by the server tests: surveys and photos as a phone writes them."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime

from PIL import Image, ImageDraw


def photo_jpeg(seed: int = 1, size: tuple[int, int] = (800, 600)) -> bytes:
    """A textured JPEG, different for each seed."""
    image = Image.new("RGB", size, (40 + seed * 13 % 200, 90, 140))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 23):
        draw.line([(i, 0), (size[0] - i, size[1])], fill=((i * seed) % 255, 200, 80), width=3)
    draw.rectangle([50 + seed * 7 % 300, 60, 300, 280], fill=(250, 240 - seed % 50, 10))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def member(age: int = 34, skilled: bool = True, **overrides) -> dict:
    tasks = "done" if skilled else "could_not"
    row = {"_row": str(uuid.uuid4()), "name": "Nguyễn Văn An", "age": age, "sex": "male",
           "smartphone": "own", "vneid": "level2", "payment_account": "bank",
           "digital_signature": "no", "online_public_service": "self",
           "vneid_certified": "yes" if skilled else "no", "skills_training": "community",
           "k1": tasks, "k2": tasks, "k3": tasks, "k4": "ignore_check" if skilled else "tap_link",
           "k5": tasks, "safety_practices": ["no_otp_sharing", "official_apps"],
           "basic_skills": 1 if skilled else 0}
    row.update(overrides)
    return row


def household_answers(group: str = "tdp03", members: list[dict] | None = None,
                      photos: list[str] | None = None) -> dict:
    members = members if members is not None else [member()]
    return {"consent": "yes", "residential_group": group, "address": "Số 12 ngõ 5 phố Lê Lợi",
            "head_name": "Nguyễn Văn An", "household_size": len(members), "fibre": "yes",
            "members": members, "member_count": len(members),
            "evidence_photo": photos or [f"photo:{uuid.uuid4()}"]}


def survey_doc(answers: dict, status: str = "final", form_version: str = "2026.1",
               volunteer: str = "", doc_id: str | None = None) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"_id": doc_id or f"survey:{uuid.uuid4()}", "type": "survey",
            "form_id": "household", "form_version": form_version, "status": status,
            "answers": answers, "volunteer": volunteer, "device_id": "test-device",
            "created_at": now, "updated_at": now, "gps": None}


def photo_doc(survey_id: str, data: bytes, doc_id: str | None = None) -> dict:
    return {"_id": doc_id or f"photo:{uuid.uuid4()}", "type": "photo", "survey_id": survey_id,
            "field": "evidence_photo", "taken_at": datetime.now(UTC).isoformat(), "gps": None,
            "_attachments": {"photo.jpg": {"content_type": "image/jpeg",
                                           "data": base64.b64encode(data).decode()}}}
