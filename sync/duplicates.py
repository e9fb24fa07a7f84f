"""Detection of the same household or enterprise surveyed twice.

Two volunteers may knock on the same door, and a household surveyed in phase
1 of the campaign is surveyed again in phase 2. `find_duplicates` compares one
incoming survey with candidate surveys (the ingest picks them, for example the
same residential group and the surrounding area) and returns the matches, each
with its reasons in Vietnamese and English, for a reviewer to merge or link.
It is pure: survey documents (docs/contracts.md) in, `Match` values out.

A pair matches when one of these holds:

- enterprises: the same tax code, compared without spaces, dots or dashes; a
  branch (`-NNN`) is a different enterprise from its head office;
- households: the same residential group and the same address once both are
  normalised (case, diacritics, đ/d, spacing, "số"/"SN", "ngõ"/"ngách"/"hẻm",
  "đường"/"phố", the "tổ" part and the ward or province after the street);
- either: phones' GPS fixes within `radius_m` of each other and similar names
  (the head of household: `answers.head_name`, else the first member; the
  enterprise name without its legal form). Two enterprises whose tax codes
  differ never match this way.

A match in another campaign phase is a "revisit" (link to the same household),
in the same phase (or when a phase is unknown) a "duplicate".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from typing import Any

from stdnum.vn import mst

__all__ = [
    "DEFAULT_RULES",
    "DuplicateRules",
    "Match",
    "Reason",
    "address_key",
    "find_duplicates",
    "fold",
    "haversine_m",
    "name_similarity",
    "tax_code_key",
]

SAME_TAX_CODE = "same_tax_code"
SAME_ADDRESS = "same_address"
NEAR_SIMILAR_NAME = "near_similar_name"
# Strongest evidence first: the order matches are listed in.
_PRIORITY = {SAME_TAX_CODE: 0, SAME_ADDRESS: 1, NEAR_SIMILAR_NAME: 2}


@dataclass(frozen=True)
class Reason:
    """Why two surveys look like the same subject, for the reviewer."""

    code: str
    vi: str
    en: str


@dataclass(frozen=True)
class Match:
    """A candidate that may be the same household or enterprise.

    `kind` is "duplicate" (same phase: offer to merge) or "revisit" (another
    phase: link as the same household or enterprise).
    """

    candidate_id: str
    kind: str
    reasons: tuple[Reason, ...]
    distance_m: float | None = None
    name_similarity: float | None = None


@dataclass(frozen=True)
class DuplicateRules:
    """The knobs of the detection, set from the ward's configuration.

    `phases` are (name, first day ISO date) in any order; a survey's phase is
    its own top-level `phase` when present, else the last phase started on its
    `created_at` date. Fixes worse than `max_accuracy_m` are too vague to
    compare.
    """

    radius_m: float = 30.0
    max_accuracy_m: float = 50.0
    name_threshold: float = 0.8
    phases: tuple[tuple[str, str], ...] = ()


DEFAULT_RULES = DuplicateRules()


def find_duplicates(
    new: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
    rules: DuplicateRules = DEFAULT_RULES,
) -> list[Match]:
    """Candidates that are likely the same subject as `new`, strongest first."""
    this = _facts(new, rules)
    matches = []
    for candidate in candidates:
        if candidate.get("_id") == new.get("_id"):
            continue
        match = _compare(this, _facts(candidate, rules), rules)
        if match is not None:
            matches.append(match)
    return sorted(matches, key=_strength)


@dataclass(frozen=True)
class _Facts:
    """What the rules compare, read and normalised once per survey."""

    survey_id: str
    subject: str
    tax_code: str | None
    group: Any
    address: Any
    address_key: tuple[str, str, str, str] | None
    name: str | None
    point: tuple[float, float] | None
    phase: str | None


def _facts(doc: Mapping[str, Any], rules: DuplicateRules) -> _Facts:
    answers = _answers(doc)
    return _Facts(
        survey_id=str(doc.get("_id")),
        subject=_subject(doc),
        tax_code=tax_code_key(answers.get("tax_code")),
        group=answers.get("residential_group"),
        address=answers.get("address"),
        address_key=address_key(answers.get("address")),
        name=_name(doc),
        point=_point(doc.get("gps"), rules),
        phase=_phase(doc, rules),
    )


def _strength(match: Match) -> tuple[int, float, str]:
    best = min(_PRIORITY[reason.code] for reason in match.reasons)
    distance = match.distance_m if match.distance_m is not None else math.inf
    return best, distance, match.candidate_id


def _compare(new: _Facts, old: _Facts, rules: DuplicateRules) -> Match | None:
    if new.subject != old.subject:
        return None
    reasons = []
    if new.tax_code and old.tax_code:
        if new.tax_code != old.tax_code:
            return None  # two tax codes: two enterprises, however close and alike
        shown = mst.format(new.tax_code)
        reasons.append(Reason(SAME_TAX_CODE, f"Cùng mã số thuế {shown}", f"Same tax code {shown}"))
    if new.address_key is not None and new.group is not None and (
        (new.group, new.address_key) == (old.group, old.address_key)
    ):
        reasons.append(Reason(
            SAME_ADDRESS,
            f"Cùng địa chỉ trong tổ dân phố {old.group}: {old.address}",
            f"Same address in residential group {old.group}: {old.address}",
        ))
    distance = haversine_m(*new.point, *old.point) if new.point and old.point else None
    similarity = None
    if distance is not None and distance <= rules.radius_m and new.name and old.name:
        similarity = name_similarity(new.name, old.name, enterprise=new.subject == "enterprise")
        if similarity >= rules.name_threshold:
            reasons.append(Reason(
                NEAR_SIMILAR_NAME,
                f"Cách {distance:.0f} m, tên gần giống: {new.name} / {old.name}",
                f"{distance:.0f} m apart, similar names: {new.name} / {old.name}",
            ))
    if not reasons:
        return None
    different_phases = new.phase is not None and old.phase is not None and new.phase != old.phase
    return Match(
        candidate_id=old.survey_id,
        kind="revisit" if different_phases else "duplicate",
        reasons=tuple(reasons),
        distance_m=distance,
        name_similarity=similarity,
    )


def _answers(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    answers = doc.get("answers")
    return answers if isinstance(answers, Mapping) else {}


def _subject(doc: Mapping[str, Any]) -> str:
    """"household" or "enterprise": the `subject` the ingest may set from the form.

    Without it, the enterprise form's own answers tell (contracts.md: only it
    has `tax_code` and `name` at the top of its answers).
    """
    subject = doc.get("subject")
    if isinstance(subject, str):
        return subject
    answers = _answers(doc)
    return "enterprise" if "tax_code" in answers or "name" in answers else "household"


def _phase(doc: Mapping[str, Any], rules: DuplicateRules) -> str | None:
    if isinstance(doc.get("phase"), str):
        return doc["phase"]
    created = doc.get("created_at")
    if not isinstance(created, str) or not rules.phases:
        return None
    try:
        day = date.fromisoformat(created[:10])
    except ValueError:
        return None
    started = [(date.fromisoformat(first), name) for name, first in rules.phases]
    return max(((first, name) for first, name in started if first <= day), default=(None, None))[1]


# --- names ---------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, no diacritics, đ as d, single spaces: how volunteers may type."""
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.split())


def _name(doc: Mapping[str, Any]) -> str | None:
    answers = _answers(doc)
    if _subject(doc) == "enterprise":
        name = answers.get("name")
    else:
        name = answers.get("head_name")
        members = answers.get("members")
        if not name and isinstance(members, list) and members and isinstance(members[0], dict):
            name = members[0].get("name")
    return name.strip() if isinstance(name, str) and name.strip() else None


# Legal forms say nothing about which enterprise it is: "Công ty TNHH Minh
# Phát" and "Cty Minh Phát" are the same shop.
_LEGAL_FORMS = re.compile(
    r"\b(cong ty|cty|co phan|cp|tnhh|mtv|mot thanh vien|hai thanh vien tro len|"
    r"trach nhiem huu han|doanh nghiep tu nhan|dntn|ho kinh doanh|hkd|hop tac xa|htx|"
    r"chi nhanh|cn|cua hang|jsc|co ltd|ltd|company)\b"
)


def name_similarity(a: str, b: str, *, enterprise: bool = False) -> float:
    """How alike two names are, 0 to 1, diacritics and case aside.

    For people the given name (the last word) must agree, with its diacritics
    when both are typed with them: An and Anh, Hà and Hạ are different
    people; a missing middle name is tolerated.
    """
    fa, fb = fold(a), fold(b)
    if enterprise:
        fa, fb = (re.sub(r"[^\w\s]+", " ", f) for f in (fa, fb))
        fa, fb = (" ".join(_LEGAL_FORMS.sub(" ", f).split()) or f for f in (fa, fb))
        return _ratio(fa, fb)
    words_a, words_b = fa.split(), fb.split()
    if not words_a or not words_b or words_a[-1] != words_b[-1]:
        return 0.0
    given_a, given_b = (unicodedata.normalize("NFC", n.split()[-1].lower()) for n in (a, b))
    if _has_marks(a) and _has_marks(b) and given_a != given_b:
        return 0.0
    if words_a == words_b:
        return 1.0
    shorter, longer = sorted((words_a, words_b), key=len)
    if 2 <= len(shorter) < len(longer) and shorter[0] == longer[0] and _within(shorter, longer):
        return 0.9  # the same family and given name, a middle name left out
    return _ratio(fa, fb)


def _within(shorter: list[str], longer: list[str]) -> bool:
    """Whether the words of `shorter` appear in `longer` in the same order."""
    rest = iter(longer)
    return all(word in rest for word in shorter)


def _ratio(a: str, b: str) -> float:
    # SequenceMatcher's ratio can depend on argument order; a match must not.
    return SequenceMatcher(None, *sorted((a, b))).ratio()


def _has_marks(text: str) -> bool:
    return fold(text) != " ".join(text.lower().split())


# --- addresses -----------------------------------------------------------

# Phrases first, so "tổ dân phố" is not read as "tổ" + street "dân phố".
_PHRASES = [
    (r"\b(to dan pho|tdp|to)( so)?\b", " to "),
    (r"\bkhu pho\b|\bkp\b", " to "),
    (r"\bso nha\b|\bnha so\b|\bsn\b", " so "),
    (r"\bthanh pho\b|\bthi xa\b|\bthi tran\b", " tp "),
]
_HOUSE, _ALLEY, _LANE, _GROUP = "so", "ngo", "ngach", "to"
_MARKERS = {
    "so": _HOUSE, "ngo": _ALLEY, "ng": _ALLEY, "hem": _ALLEY, "kiet": _ALLEY, "k": _ALLEY,
    "ngach": _LANE, "ngh": _LANE, "to": _GROUP,
}
_STREET_WORDS = {"duong", "pho", "d"}
# After these the address names the ward, district or province: not part of
# the house's address within the ward.
_ADMIN = {"phuong", "p", "xa", "quan", "q", "huyen", "tp", "tinh", "tt", "tx"}
_NUMBER = re.compile(r"^\d+[a-z]?(/\d+[a-z]?)*$")


def address_key(address: Any) -> tuple[str, str, str, str] | None:
    """A normalised address: (house number, alley, lane, street); None if vague.

    Word order, case, diacritics, "số"/"SN", "ngõ"/"ng."/"hẻm"/"kiệt",
    "ngách", "đường"/"phố", leading zeros, the "tổ" part and a trailing ward
    or province do not change the key. Without a house number, or with
    neither alley nor street, the address is too vague to call two surveys
    the same household.
    """
    if not isinstance(address, str):
        return None
    text = fold(address)
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)
    parts: dict[str, str] = {}
    street: list[str] = []
    for number, component in enumerate(text.split(",")):
        tokens = re.sub(r"[^\w/]+", " ", component).split()
        if number > 0 and tokens and tokens[0] in _ADMIN:
            break  # the ward, then maybe the province: all after it too
        if not _read_component(tokens, parts, street, street_done=bool(street)):
            break
    house, alley = parts.get(_HOUSE, ""), parts.get(_ALLEY, "")
    if not house or not (alley or street):
        return None
    return house, alley, parts.get(_LANE, ""), " ".join(street)


def _read_component(
    tokens: list[str], parts: dict[str, str], street: list[str], street_done: bool
) -> bool:
    """Take the numbered parts and the street words out of one comma part.

    Once a part has named the street, later parts add numbers only: their
    words are place names ("Ninh Bình"). False when the address turned to the
    ward or province, so the rest is not read.
    """
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in _MARKERS and _NUMBER.match(following):
            parts.setdefault(_MARKERS[token], _plain_number(following))
            index += 2
            continue
        if _NUMBER.match(token) and not street and _HOUSE not in parts:
            parts[_HOUSE] = _plain_number(token)
        elif token in _ADMIN and street:
            return False  # "... Trần Hưng Đạo phường Thành Nam": the rest is the ward
        elif not street_done and (token not in _STREET_WORDS or street):
            street.append(token)
        index += 1
    return True


def _plain_number(token: str) -> str:
    return "/".join(part.lstrip("0") or "0" for part in token.split("/"))


def tax_code_key(tax_code: Any) -> str | None:
    """The tax code as its 10 or 13 digits (head office or branch), else None."""
    if not isinstance(tax_code, str):
        return None
    compact = mst.compact(tax_code)
    return compact if compact.isdigit() and len(compact) in (10, 13) else None


# --- places --------------------------------------------------------------

_EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _point(fix: Any, rules: DuplicateRules) -> tuple[float, float] | None:
    """A usable GPS fix as (lat, lon); None when missing or too vague to compare."""
    if not isinstance(fix, Mapping):
        return None
    lat, lon, accuracy = fix.get("lat"), fix.get("lon"), fix.get("accuracy")
    if not all(isinstance(v, int | float) for v in (lat, lon)):
        return None
    if isinstance(accuracy, int | float) and accuracy > rules.max_accuracy_m:
        return None
    return float(lat), float(lon)
