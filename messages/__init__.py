"""The one catalogue of what Sotay says to people, in Vietnamese and English.

Every sentence the forms, media, sync and server code or the phone app shows
lives in `catalogue.json`, under a stable namespaced code (`forms.answer.required`,
`media.photo.too_large`, `server.sync_forbidden`, `app.log_in`): one place to
read, correct or translate them, and the phone gets the very same words (the
server serves this file to it as `/app/messages.json`). Placeholders are
`{name}`, the same in both languages; a parameter may be one value for both or
a `{"vi": ..., "en": ...}` pair (a reason that is itself a sentence).

Pure Python on purpose: forms/ and media/ import it, and they import no server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("vi", "en")
# What the phone app shows: its own sentences, an answer's errors, the server's answers.
PHONE_NAMESPACES = ("app.", "forms.answer.", "server.")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every message: code -> {"vi", "en"} (server problems also carry "http", e.g. "400.1")."""
    text = resources.files("messages").joinpath("catalogue.json").read_text("utf-8")
    return json.loads(text)


def _fill(template: str, params: Mapping[str, Any], language: str) -> str:
    def value(match: re.Match) -> str:
        param = params[match[1]]
        if isinstance(param, Mapping):
            param = param[language]
        return str(param)

    return PLACEHOLDER.sub(value, template)


def say(code: str, **params: Any) -> tuple[str, str]:
    """The (Vietnamese, English) sentences of `code` with its placeholders filled.

    An unknown code or a missing parameter raises (KeyError): a message that
    cannot be said properly is a bug to find in tests, not a sentence to guess.
    """
    entry = catalogue()[code]
    return _fill(entry["vi"], params, "vi"), _fill(entry["en"], params, "en")


def both(code: str, **params: Any) -> str:
    """"Vietnamese / English" in one line, for a CLI, a log, a cell or a label."""
    return " / ".join(say(code, **params))


def for_phone() -> dict[str, dict[str, str]]:
    """The part of the catalogue the phone app needs, as it reads it: code -> {vi, en}."""
    return {code: {"vi": entry["vi"], "en": entry["en"]}
            for code, entry in catalogue().items() if code.startswith(PHONE_NAMESPACES)}


def placeholders(text: str) -> set[str]:
    """The names of the `{name}` placeholders of one sentence."""
    return set(PLACEHOLDER.findall(text))
