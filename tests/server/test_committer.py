"""The ingest commits a page in a thread of its own while it validates the next one,
and a failed commit stops every later page from being committed."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from media.pipeline import Limits
from server import services
from server.ingest_store import SqlIngestStore
from server.models import Submission, db
from sync.ingest import StoreUnavailable, ingest_db
from tests.server.helpers import household_answers, survey_doc

PAGE = 10


def fill(couch, account, surveys: int) -> list[dict]:
    docs = [survey_doc(household_answers(), volunteer=account.username) for _ in range(surveys)]
    couch.bulk_write(account.couch_db, docs)
    return docs


def run(store, account) -> int:
    return ingest_db(services.couch(), store, services.photo_store(), account.couch_db, Limits(),
                     page_size=PAGE)


def stored_ids(app) -> set[str]:
    with app.app_context():
        return set(db.session.execute(select(Submission.doc_id)).scalars())


class SlowFirstCommit(SqlIngestStore):
    """Holds the first page's commit until the next page is being validated."""

    def __init__(self) -> None:
        super().__init__()
        self.forms_asked = 0
        self.next_page_handled = threading.Event()
        self.commit_threads: set[str] = set()

    def form(self, form_id, version):
        self.forms_asked += 1
        if self.forms_asked > PAGE:
            self.next_page_handled.set()
        return super().form(form_id, version)

    def apply(self, couch_db, outcomes, last_seq):
        self.commit_threads.add(threading.current_thread().name)
        if not self.next_page_handled.is_set():
            assert self.next_page_handled.wait(10), "page 2 was not handled during commit 1"
        return super().apply(couch_db, outcomes, last_seq)


def test_the_next_page_is_validated_while_one_commits(app, volunteer):
    with app.app_context():
        docs = fill(services.couch(), volunteer, 3 * PAGE)
        store = SlowFirstCommit()
        handled = run(store, volunteer)
    assert handled == len(docs)
    assert store.commit_threads == {"ingest committer"}
    assert stored_ids(app) == {doc["_id"] for doc in docs}


class FailingSecondCommit(SqlIngestStore):
    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    def apply(self, couch_db, outcomes, last_seq):
        self.commits += 1
        if self.commits == 2:
            raise StoreUnavailable("simulated: the database went away")
        return super().apply(couch_db, outcomes, last_seq)


def test_after_a_failed_commit_no_later_page_is_committed(app, volunteer):
    with app.app_context():
        couch = services.couch()
        docs = fill(couch, volunteer, 4 * PAGE)
        store = FailingSecondCommit()
        with pytest.raises(StoreUnavailable):
            run(store, volunteer)
        assert store.commits == 2, "a page after the failed one reached the store"
        first_page = couch.changes(volunteer.couch_db, None, PAGE)
        # Seqs are opaque: CouchDB 3 may spell the same position differently on
        # another read, but its leading count is the number of changes before it.
        checkpoint = SqlIngestStore().checkpoint(volunteer.couch_db)
        assert str(checkpoint).split("-")[0] == str(first_page.last_seq).split("-")[0]
    # One page's worth: which documents, CouchDB 3 may order differently on another read.
    first = stored_ids(app)
    assert len(first) == len(first_page.results) == PAGE
    assert first <= {doc["_id"] for doc in docs}
    # The next turn resumes from the checkpoint: everything, once.
    with app.app_context():
        again = run(SqlIngestStore(), volunteer)
    assert again == 3 * PAGE
    assert stored_ids(app) == {doc["_id"] for doc in docs}
    with app.app_context():
        assert len(db.session.execute(select(Submission.doc_id)).all()) == len(docs)
