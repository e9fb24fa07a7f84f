"""The campaign's form definitions shipped with Sotay (forms/definitions/*.json).

The household digital-skills assessment and the enterprise digital-adoption
check; the server publishes them into the `forms` database on first run.
"""

from __future__ import annotations

import json
from importlib import resources


def shipped_forms() -> list[dict]:
    """Every shipped definition, sorted by form id."""
    folder = resources.files("forms").joinpath("definitions")
    forms = [
        json.loads(entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    ]
    return sorted(forms, key=lambda form: form["id"])
