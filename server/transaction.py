"""One transaction per unit of work, committed or rolled back in one place.

A request, a command, a background step of the worker, a batch of the
gateway's write marks: each is one transaction that ends here, never in an
action or a query function (they only read and write through the session).
As ODK Central's `transacting`: what a block wrote is committed if it ends
normally and rolled back if it raises, so a failure leaves nothing half done.

    with transacting():
        publish(actor, definition)

or, for a whole function, `@transacting()`. A request's transaction ends in
two hooks rather than one block (`server.app`), hence `end`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from server.models import db


@contextmanager
def transacting() -> Iterator[None]:
    """Commit what the block wrote if it ends normally, roll it back if it raises."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def end(ok: bool) -> None:
    """End the current transaction: commit it if `ok`, else roll it back; nothing if
    the session was never used (no SQL touched, e.g. most sync requests)."""
    if not db.session.registry.has():
        return
    if ok:
        db.session.commit()
    else:
        db.session.rollback()
