"""Password hashing: its parameters, and a bound on how many hashes run at once.

Passwords are hashed with scrypt, N = 2^15, r = 8, p = 1 (werkzeug's
`scrypt:32768:8:1`): each hash or check takes 128 · N · r = 32 MiB of memory
and about 80 ms of an idle core. Fifty logins at once would take 1.6 GB, so a
web process runs at most `SOTAY_LOGIN_HASHES_AT_ONCE` of them together; the
others wait their turn (at most `WAIT_SECONDS`, then a clear "busy, try
again"). An unknown username is checked against a hash made with the same
parameters, so it costs what a known one costs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.security import check_password_hash, generate_password_hash

from server.errors import problem

METHOD = "scrypt:32768:8:1"
# What an unknown username is checked against: a hash with the same parameters,
# of a random password that was thrown away.
STAND_IN = ("scrypt:32768:8:1$Ben7V7gNYRJlrvNH$2be6bb64fdb6c463a12ae03bff930bb33e8888ab0350277a"
            "e654cdc12df7dee5a02550d2820d1013db1b613f964832b6732a545ad366e76f970533396e53be1b")
# Longer than any sensible queue of logins (at 2 at once, 30 s is some 700 hashes).
WAIT_SECONDS = 30.0


class PasswordHasher:
    """Hashes and checks passwords, `at_once` of them at a time in this process."""

    def __init__(self, at_once: int) -> None:
        if at_once < 1:
            raise ValueError("SOTAY_LOGIN_HASHES_AT_ONCE must be at least 1")
        self._slots = threading.BoundedSemaphore(at_once)

    def hash(self, password: str) -> str:
        with self._slot():
            return generate_password_hash(password, method=METHOD)

    def check(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no stored hash (an unknown
        username) the same work is done and the answer is no."""
        with self._slot():
            return check_password_hash(stored or STAND_IN, password) and stored is not None

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise problem("login_busy")
        try:
            yield
        finally:
            self._slots.release()
