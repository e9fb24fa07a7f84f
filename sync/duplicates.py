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

Everything compared is read off a survey once, as its `MatchKeys`
(`match_keys`): the server stores them with each survey, so checking a new
survey looks its candidates up by key and never normalises the others again.
Texts longer than any real address or name (`MAX_ADDRESS_CHARS`,
`MAX_NAME_CHARS`) give no key: normalising or comparing them would cost time
in proportion to whatever length a device sent, for no real match.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from typing import Any

from stdnum.vn import mst

from forms.model import has_lone_surrogate
from media.flags import EARTH_RADIUS_M, haversine_m
from messages import say

__all__ = [
    "DEFAULT_RULES",
    "DuplicateRules",
    "Match",
    "MatchKeys",
    "Reason",
    "address_key",
    "find_duplicates",
    "find_matches",
    "match_keys",
    "search_box",
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


# An address or a name longer than these is no address or name (the longest
# Vietnamese addresses within a ward are well under 200 characters).
MAX_ADDRESS_CHARS = 500
MAX_NAME_CHARS = 200
MAX_GROUP_CHARS = 64


@dataclass(frozen=True)
class MatchKeys:
    """What the rules compare of one survey, read and normalised once.

    `address_key` is `address_key()` joined by "|" (its parts hold no "|");
    `address` is the address as typed, kept only with its key, for the
    reviewer's reason. Every text is at most a few hundred characters, with
    no NUL and no lone surrogate, so it can be stored and indexed as is.
    """

    survey_id: str
    subject: str
    tax_code: str | None = None
    group: str | None = None
    address: str | None = None
    address_key: str | None = None
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    created_at: str | None = None
    phase: str | None = None  # the survey's own `phase`, when it names one


def match_keys(doc: Mapping[str, Any]) -> MatchKeys:
    """The keys of one survey document (docs/contracts.md)."""
    answers = _answers(doc)
    address = _short_text(answers.get("address"), MAX_ADDRESS_CHARS)
    key = address_key(address)
    lat, lon, accuracy = _fix(doc.get("gps"))
    return MatchKeys(
        survey_id=str(doc.get("_id")),
        subject=_subject(doc),
        tax_code=tax_code_key(answers.get("tax_code")),
        group=_short_text(answers.get("residential_group"), MAX_GROUP_CHARS),
        address=address if key is not None else None,
        address_key="|".join(key) if key is not None else None,
        name=_name(doc),
        lat=lat,
        lon=lon,
        accuracy=accuracy,
        created_at=_short_text(doc.get("created_at"), 40),
        phase=_short_text(doc.get("phase"), MAX_GROUP_CHARS),
    )


def find_duplicates(
    new: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
    rules: DuplicateRules = DEFAULT_RULES,
) -> list[Match]:
    """Candidates that are likely the same subject as `new`, strongest first."""
    return find_matches(match_keys(new), (match_keys(c) for c in candidates), rules)


def find_matches(
    new: MatchKeys, candidates: Iterable[MatchKeys], rules: DuplicateRules = DEFAULT_RULES
) -> list[Match]:
    """`find_duplicates` of surveys whose keys are already known."""
    this = _facts(new, rules)
    matches = []
    for candidate in candidates:
        if candidate.survey_id == new.survey_id:
            continue
        match = _compare(this, _facts(candidate, rules), rules)
        if match is not None:
            matches.append(match)
    return sorted(matches, key=_strength)


def search_box(keys: MatchKeys, rules: DuplicateRules = DEFAULT_RULES
               ) -> tuple[float, float, float, float] | None:
    """(south, north, west, east) in degrees around a survey's fix, holding every
    point within `rules.radius_m`; None without a usable fix. Across the poles
    or the 180th meridian it spans every longitude."""
    point = _point(keys, rules)
    if point is None:
        return None
    lat, lon = point
    # A little wider than the radius: the box only narrows what haversine_m decides.
    dlat = math.degrees(rules.radius_m * 1.01 / EARTH_RADIUS_M)
    south, north = lat - dlat, lat + dlat
    cos_lat = math.cos(math.radians(max(abs(south), abs(north))))
    if north >= 90 or south <= -90 or cos_lat < 1e-6:
        return south, north, -180.0, 180.0
    dlon = dlat / cos_lat
    if lon - dlon < -180 or lon + dlon > 180:
        return south, north, -180.0, 180.0
    return south, north, lon - dlon, lon + dlon


@dataclass(frozen=True)
class _Facts:
    """A survey's keys as the rules compare them (its fix and its phase by the rules)."""

    keys: MatchKeys
    point: tuple[float, float] | None
    phase: str | None


def _facts(keys: MatchKeys, rules: DuplicateRules) -> _Facts:
    return _Facts(keys, _point(keys, rules), _phase(keys, rules))


def _short_text(value: Any, limit: int) -> str | None:
    """A text fit to store and index: at most `limit` characters, no NUL, no lone
    surrogate; else None."""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        return None
    return None if has_lone_surrogate(value) else value


def _strength(match: Match) -> tuple[int, float, str]:
    best = min(_PRIORITY[reason.code] for reason in match.reasons)
    distance = match.distance_m if match.distance_m is not None else math.inf
    return best, distance, match.candidate_id


def _reason(code: str, **params: Any) -> Reason:
    return Reason(code, *say(f"sync.duplicate.{code}", **params))


def _compare(new_facts: _Facts, old_facts: _Facts, rules: DuplicateRules) -> Match | None:
    new, old = new_facts.keys, old_facts.keys
    if new.subject != old.subject:
        return None
    reasons = []
    if new.tax_code and old.tax_code:
        if new.tax_code != old.tax_code:
            return None  # two tax codes: two enterprises, however close and alike
        shown = mst.format(new.tax_code)
        reasons.append(_reason(SAME_TAX_CODE, tax_code=shown))
    if new.address_key is not None and new.group is not None and (
        (new.group, new.address_key) == (old.group, old.address_key)
    ):
        reasons.append(_reason(SAME_ADDRESS, group=old.group, address=old.address))
    here, there = new_facts.point, old_facts.point
    distance = haversine_m(*here, *there) if here and there else None
    similarity = None
    if distance is not None and distance <= rules.radius_m and new.name and old.name:
        similarity = name_similarity(new.name, old.name, enterprise=new.subject == "enterprise")
        if similarity >= rules.name_threshold:
            reasons.append(_reason(NEAR_SIMILAR_NAME, distance_m=f"{distance:.0f}",
                                   new=new.name, old=old.name))
    if not reasons:
        return None
    new_phase, old_phase = new_facts.phase, old_facts.phase
    different_phases = new_phase is not None and old_phase is not None and new_phase != old_phase
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


def _phase(keys: MatchKeys, rules: DuplicateRules) -> str | None:
    if keys.phase is not None:
        return keys.phase
    if keys.created_at is None or not rules.phases:
        return None
    try:
        day = date.fromisoformat(keys.created_at[:10])
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
    name = name.strip() if isinstance(name, str) else None
    return _short_text(name, MAX_NAME_CHARS) if name else None


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
    the same household. So is one longer than `MAX_ADDRESS_CHARS`.
    """
    if not isinstance(address, str) or len(address) > MAX_ADDRESS_CHARS:
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


def _fix(fix: Any) -> tuple[float | None, float | None, float | None]:
    """(lat, lon, accuracy) of a GPS fix; (None, None, None) without a valid place.

    Compared before any conversion: an integer beyond a float's range is no
    coordinate, and a vaguer accuracy than a billion metres is as vague."""
    if not isinstance(fix, Mapping):
        return None, None, None
    lat, lon, accuracy = fix.get("lat"), fix.get("lon"), fix.get("accuracy")
    if not (_is_number(lat) and _is_number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None, None
    if _is_number(accuracy) and accuracy >= 0:
        accuracy = float(min(accuracy, 1e9))
    else:
        accuracy = None
    return float(lat), float(lon), accuracy


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _point(keys: MatchKeys, rules: DuplicateRules) -> tuple[float, float] | None:
    """A usable GPS fix as (lat, lon); None when missing or too vague to compare."""
    if keys.lat is None or keys.lon is None:
        return None
    if keys.accuracy is not None and keys.accuracy > rules.max_accuracy_m:
        return None
    return keys.lat, keys.lon
