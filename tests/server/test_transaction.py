"""The transaction helper: what a unit of work wrote is committed if it ends
normally and rolled back if it raises, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server import transaction
from server.models import AuditEntry, db
from server.queries.audit import audit
from server.transaction import transacting


def entries(app, action: str) -> int:
    """Audit entries of `action` as another session sees them: only what was committed."""
    with app.app_context():
        found = db.session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == action)).scalar_one()
        db.session.remove()
    return found


def test_a_block_that_ends_normally_is_committed(app):
    with app.app_context(), transacting():
        audit("tester", "test.kept", "a")
    assert entries(app, "test.kept") == 1


def test_a_block_that_raises_leaves_nothing_and_the_error_goes_on(app):
    with app.app_context():
        with pytest.raises(LookupError), transacting():
            audit("tester", "test.undone", "a")
            db.session.flush()  # written to the database, not yet committed
            raise LookupError("the action failed half way")
    assert entries(app, "test.undone") == 0


def test_as_a_decorator_each_call_is_its_own_transaction(app):
    @transacting()
    def note(target: str) -> None:
        audit("tester", "test.decorated", target)
        if target == "bad":
            raise ValueError(target)

    with app.app_context():
        note("good")
        with pytest.raises(ValueError):
            note("bad")
        note("good again")
    assert entries(app, "test.decorated") == 2


def test_end_commits_or_rolls_back_and_leaves_an_unused_session_alone(app):
    with app.app_context():
        transaction.end(ok=True)
        assert not db.session.registry.has()  # no session made just to end it
        audit("tester", "test.ended", "kept")
        transaction.end(ok=True)
        audit("tester", "test.ended", "dropped")
        transaction.end(ok=False)
    assert entries(app, "test.ended") == 1
