"""The refusal of a photo, with a stable code and its reason in Vietnamese and English.

Every refusal the pipeline raises is a PhotoRejected, with a stable code (such
as `photo.too_large`) that the server stores with the quarantined original and
shows on the review screens; its sentences are the message catalogue's
`media.<code>`, what the file is instead (`kind`) its `media.kind.<kind>`.
"""

from __future__ import annotations

from messages import say


class PhotoRejected(Exception):
    """A photo the pipeline refuses, with a stable code and a reason in vi and en."""

    def __init__(self, code: str, detail: dict | None = None) -> None:
        self.code = code
        self.detail = dict(detail or {})
        names = dict(self.detail)
        if "kind" in names:  # what the file is instead, itself said in both languages
            kind_vi, kind_en = say(f"media.kind.{names['kind']}")
            names["kind"] = {"vi": kind_vi, "en": kind_en}
        self.vi, self.en = say(f"media.{code}", **names)
        super().__init__(f"{code}: {self.en}")

    def as_dict(self) -> dict:
        return {"code": self.code, "vi": self.vi, "en": self.en, "detail": self.detail}

    def __reduce__(self):
        # Rebuilt from code and detail, so a refusal crosses process pools intact.
        return type(self), (self.code, self.detail)
