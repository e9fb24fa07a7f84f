"""Regression tests from the code review: login redirects and CSRF tokens."""

from __future__ import annotations

import re

from tests.conftest import log_in


def test_login_next_is_not_an_open_redirect(client, reviewer):
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    reply = client.post("/login?next=https://evil.example/phish",
                        data={"username": reviewer.username, "password": reviewer.password,
                              "csrf": csrf})
    assert reply.status_code == 302
    assert not reply.headers["Location"].startswith(("https://evil", "//")), \
        reply.headers["Location"]


def test_csrf_token_with_non_ascii_is_a_403_not_a_500(client, reviewer):
    log_in(client, reviewer)
    reply = client.post("/review/1", data={"decision": "approved", "rev": "1-x",
                                           "csrf": "é"})
    assert reply.status_code == 403, reply.status_code
