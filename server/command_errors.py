"""How the `sotay` commands fail: one clear line, and an exit status a supervisor
understands."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from flask import current_app

from server.errors import problem
from sync.couch import AdminRefused, CouchError, split_credentials

# The exit status of a process that must not be started again as it is (sysexits'
# EX_CONFIG): `sotay run` does not restart it, and a service manager should not
# either (systemd: RestartPreventExitStatus=78), since each start would be one more
# failed login towards CouchDB's lockout of the admin.
EXIT_CONFIG = 78


class CouchUnusable(click.ClickException):
    """CouchDB cannot be used as configured: one line saying where, what it said, what
    to check."""

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.exit_code = exit_code

    def format_message(self) -> str:
        return self.message


def couch_unusable(err: CouchError, couch_url: str) -> CouchUnusable:
    """The one line a command prints when CouchDB fails it."""
    if isinstance(err, AdminRefused):
        return CouchUnusable(f"{err.vi} / {err.en}", EXIT_CONFIG)
    url = split_credentials(couch_url)[0]
    found = problem("couch_unreachable" if err.status is None else "couch_failed",
                    url=url, said=err.said)
    return CouchUnusable(f"{found.vi} / {found.en}", 1)


def couch_checked(command: Callable) -> Callable:
    """A command whose CouchError is one clear line and a non-zero exit, no traceback."""

    @functools.wraps(command)
    def checked(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CouchError as err:
            raise couch_unusable(err, current_app.config["COUCHDB_URL"]) from None

    return checked
