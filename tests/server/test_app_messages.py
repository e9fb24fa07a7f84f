"""The phone gets the catalogue's words from the server, and keeps them offline."""

from __future__ import annotations

import re

from messages import catalogue
from tests.conftest import ROOT


def test_the_server_serves_the_phone_its_part_of_the_catalogue(client):
    reply = client.get("/app/messages.json")
    assert reply.status_code == 200
    assert reply.headers["Cache-Control"] == "no-cache"  # the service worker caches it
    served = reply.get_json()
    assert served["forms.answer.too_few_rows"] == {
        "vi": catalogue()["forms.answer.too_few_rows"]["vi"],
        "en": catalogue()["forms.answer.too_few_rows"]["en"]}
    assert {code.split(".")[0] for code in served} == {"app", "forms", "server"}
    assert not any(code.startswith(("media.", "sync.", "forms.definition.")) for code in served)


def test_the_service_worker_keeps_the_words_offline():
    shell = (ROOT / "server" / "static" / "app" / "sw.js").read_text("utf-8")
    assert re.search(r"'messages\.json',", shell)
