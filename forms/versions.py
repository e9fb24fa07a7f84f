"""Form versions: a published version never changes.

Publishing a form checks it (check_definition) and compares it with the
versions already published: the same id and version with different content
is refused, so a changed form needs a new version; the same content again is
a harmless no-op. Surveys name the version they were filled with
(`form_version`) and are validated against exactly that version, which
therefore stays readable for as long as any survey uses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from forms.definition import Problem, check_definition


def canonical_json(defn: dict) -> str:
    """One text per definition content, whatever the key order or spacing."""
    return json.dumps(defn, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def digest(defn: dict) -> str:
    """SHA-256 of the canonical JSON, to compare versions cheaply."""
    return hashlib.sha256(canonical_json(defn).encode("utf-8")).hexdigest()


def form_doc_id(form_id: str, version: str) -> str:
    """The CouchDB document id of a published version (docs/contracts.md)."""
    return f"form:{form_id}:{version}"


@dataclass
class PublishCheck:
    """Whether a definition may be published: problems, and whether it is already out."""

    problems: list[Problem] = field(default_factory=list)
    already_published: bool = False


def check_publish(defn: dict, published: Iterable[dict]) -> PublishCheck:
    """Check a definition against the versions already published (their definitions)."""
    problems = check_definition(defn)
    if problems:
        return PublishCheck(problems)
    for other in published:
        if other.get("id") != defn["id"] or other.get("version") != defn["version"]:
            continue
        if digest(other) == digest(defn):
            return PublishCheck([], already_published=True)
        version = defn["version"]
        return PublishCheck([Problem(
            "$.version", "version_exists",
            f"Phiên bản {version!r} của biểu mẫu {defn['id']!r} đã được công bố với nội dung "
            "khác; phiên bản đã công bố không thể sửa, hãy đặt số phiên bản mới.",
            f"Version {version!r} of form {defn['id']!r} was already published with other "
            "content; a published version cannot change, give the form a new version.",
        )])
    return PublishCheck()
