"""The restore drill: `sotay backup`, everything wiped, `sotay restore` into a fresh SQL
database and a fresh CouchDB, and everything is there and works.

Populated as in the field: a phone (real PouchDB) pushes surveys with photos
through the gateway, the real ingest stores them, a reviewer approves one and
sends one back (feedback delivered to the phone), then one more survey
arrives that the ingest has not read yet. After the restore: every SQL row,
every CouchDB document with the same revisions and attachments, `_security`,
the volunteer's CouchDB user and every photo file are as they were; the ingest
reads only the survey it had not read; and the same phone, with the
checkpoints of its earlier syncs, logs in, pushes and pulls as before.
Runs on SQLite and PostgreSQL, on PouchDB Server and on Apache CouchDB 3, and
once from PouchDB Server into CouchDB 3 (the move from `make run` to production).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from server import services
from server.actions.reviews import deliver_feedback
from server.app import create_app
from server.models import Submission, SubmissionRevision, db
from server.queries.backup import checkpoints
from sync.couch import Couch, CouchError
from tests.conftest import (
    ON_COUCHDB3,
    CouchServer,
    body,
    couchdb3_node,
    log_in,
    make_account,
    make_config,
    pouchdb_server,
    serving,
)
from tests.server.test_ingest import put, run_ingest
from tests.server.test_review_flow import decide, queue
from tests.sync.phone import Phone, phone_docs


@contextmanager
def fresh_couch(folder: Path, couchdb3: bool = ON_COUCHDB3) -> Iterator[CouchServer]:
    """A CouchDB-API server with nothing in it, of the kind the suite runs on (or
    Apache CouchDB 3)."""
    if couchdb3:
        with couchdb3_node("backup-drill") as server:
            yield server
    else:
        with pouchdb_server(folder) as server:
            yield server


@pytest.fixture(params=["same server kind", "PouchDB Server to CouchDB 3"])
def into_couchdb3(request, database_url) -> bool:
    """Whether the restore goes into Apache CouchDB 3: also, in the PouchDB Server run (on
    SQLite only, for time), the move from the embedded server to production's."""
    if request.param == "same server kind":
        return ON_COUCHDB3
    if ON_COUCHDB3 or not database_url.startswith("sqlite"):
        pytest.skip("the move to CouchDB 3 is tried from PouchDB Server, on SQLite")
    return True


def sql_rows(app) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    with app.app_context():
        rows = {table.name: [tuple(row) for row in db.session.execute(
            select(table).order_by(*table.primary_key.columns))]
            for table in db.metadata.sorted_tables}
        db.session.rollback()
    return rows


def couch_state(couch: Couch, dbs: list[str], user_ids: list[str]) -> dict:
    """Each database's `_security` and documents: every leaf with its revision history and
    attachment digests; the volunteers' `_users` entries."""
    state = {}
    for name in dbs:
        docs = {}
        page = couch.changed_ids(name, 0, 200)
        while page.results:
            for change in page.results:
                docs[change["id"]] = sorted(json.dumps(leaf, sort_keys=True)
                                            for leaf in couch.open_revs(name, change["id"]))
            page = couch.changed_ids(name, page.last_seq, 200)
        state[name] = {"security": couch.security(name), "docs": docs}
    state["_users"] = {i: user_leaves(couch, i) for i in user_ids}
    return state


def user_leaves(couch: Couch, doc_id: str) -> list[str] | None:
    """A `_users` entry's leaves, without the history of a deleted one: PouchDB Server
    keeps the revision of a deleted entry written back, not its ancestors (no phone
    replicates `_users`, so nothing depends on them)."""
    try:
        return [json.dumps({k: v for k, v in leaf.items()
                            if not (leaf.get("_deleted") and k == "_revisions")},
                           sort_keys=True) for leaf in couch.open_revs("_users", doc_id)]
    except CouchError as err:
        assert err.status == 404, err
        return None


def media_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_restore_drill(app, client, volunteer, reviewer, fresh_database_url, into_couchdb3,
                       tmp_path):
    with serving(app) as server:
        phone = Phone(server.url, volunteer.couch_db, tmp_path / "phone",
                      login={"username": volunteer.username, "password": volunteer.password})
        pushed = phone_docs(volunteer.username, 4, 2)
        _, push = phone.run(phone.docs_file(pushed), {"op": "push"})
        assert push["ok"] and push["docs_written"] == 6, push
        assert run_ingest(app) >= 6
        items = queue(client, reviewer)
        assert len(items) == 4
        assert decide(client, items[0]["id"], "approved").status_code == 302
        assert decide(client, items[1]["id"], "needs_correction", "Thiếu ảnh").status_code == 302
        with app.app_context():
            assert deliver_feedback() == 2
            db.session.commit()
        (pull,) = phone.run({"op": "pull"})
        assert pull["ok"] and pull["docs_written"] == 2, pull
        # Synced after the ingest's last read: the ingest must still read them after a
        # restore. One more survey, and a photo the volunteer deleted.
        late = phone_docs(volunteer.username, 1, 0)
        _, push = phone.run(phone.docs_file(late), {"op": "push"})
        assert push["docs_written"] == 1, push
        photo_id = next(d["_id"] for d in pushed if d["type"] == "photo")
        log_in(client, volunteer)
        photo = body(client.get(f"/sync/{volunteer.couch_db}/{photo_id}"))
        put(client, volunteer, {"_id": photo_id, "_rev": photo["_rev"], "_deleted": True})

    # A deactivated volunteer: CouchDB user deleted, database kept.
    gone = make_account(app, "volunteer", "tdp04")
    assert app.test_cli_runner().invoke(args=["users", "deactivate", gone.username]).exit_code == 0
    dbs = ["forms", volunteer.couch_db, gone.couch_db]
    user_ids = [f"org.couchdb.user:{name}" for name in (volunteer.username, gone.username,
                                                         "nobody-" + volunteer.username)]
    with app.app_context():
        before_couch = couch_state(services.couch(), dbs, user_ids)
    before_sql = sql_rows(app)
    before_media = media_files(Path(app.config["MEDIA_ROOT"]))
    assert len(before_media) == 6  # two photos: original, preview, thumbnail

    backup = tmp_path / "backup"
    done = app.test_cli_runner().invoke(args=["backup", str(backup)])
    assert done.exit_code == 0, done.output
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["couchdb"]["databases"][volunteer.couch_db]["docs"] == 9  # 6 + 2 feedback + 1
    # The ingest had read neither the late survey nor the two feedback documents.
    unread = {late[0]["_id"], photo_id, *(f"feedback:{i['doc_id']}" for i in items[:2])}
    assert manifest["couchdb"]["databases"][volunteer.couch_db]["pending"] == len(unread)
    assert manifest["sql"]["rows"] == {table: len(rows) for table, rows in before_sql.items()}
    assert manifest["sql"]["rows"]["submissions"] == 4
    assert manifest["media"]["files"] == 6
    assert manifest["couchdb"]["users"]["docs"] == 2  # the deactivated one as a deletion
    assert '"_deleted": true' in before_couch["_users"][user_ids[1]][0]

    # Wiped: a new CouchDB, a new SQL database, an empty photo store.
    with fresh_couch(tmp_path / "couch2", into_couchdb3) as couch2:
        restored = create_app(make_config(couch2, fresh_database_url, tmp_path / "restored"))
        done = restored.test_cli_runner().invoke(args=["restore", str(backup)])
        assert done.exit_code == 0, done.output

        assert media_files(Path(restored.config["MEDIA_ROOT"])) == before_media
        after_sql = sql_rows(restored)
        assert {k: v for k, v in after_sql.items() if k != "checkpoints"} == \
            {k: v for k, v in before_sql.items() if k != "checkpoints"}
        with restored.app_context():
            assert couch_state(services.couch(), dbs, user_ids) == before_couch
            # The ingest resumes at the documents it had not read, and only those.
            resume_at = checkpoints()[volunteer.couch_db]
            waiting = services.couch().changed_ids(volunteer.couch_db, resume_at, 100).results
            assert {c["id"] for c in waiting} == unread
        run_ingest(restored)
        with restored.app_context():
            stored = {row.doc_id for row in db.session.execute(select(Submission)).scalars()}
            revisions = db.session.query(SubmissionRevision).count()
        assert stored == {i["doc_id"] for i in items} | {late[0]["_id"]}
        assert revisions == len(before_sql["submission_revisions"]) + 1

        # A second restore into what now holds data is refused, saying so.
        again = restored.test_cli_runner().invoke(args=["restore", str(backup)])
        assert again.exit_code != 0 and "fresh SQL database" in again.output

        # The same phone, with its checkpoints from the old server, carries on.
        with serving(restored) as server2:
            phone.base = server2.url
            more = phone_docs(volunteer.username, 1, 1)
            _, push, pull, listed = phone.run(phone.docs_file(more), {"op": "push"},
                                              {"op": "pull"}, {"op": "list"})
            # (PouchDB may count the deleted photo, which the server already has, as written.)
            assert push["ok"] and push["docs_written"] >= 2 and not push["errors"], push
            assert pull["ok"] and not pull["errors"], pull
            with restored.app_context():
                leaves = {doc_id: [json.loads(leaf) for leaf in doc_leaves]
                          for doc_id, doc_leaves in couch_state(
                              services.couch(), [volunteer.couch_db], [])[volunteer.couch_db]
                          ["docs"].items()}
            # The deletion holds: one leaf, deleted; the phone's copy did not bring it back.
            assert [leaf.get("_deleted") for leaf in leaves[photo_id]] == [True]
            live = {doc_id: doc_leaves[0]["_rev"] for doc_id, doc_leaves in leaves.items()
                    if not doc_leaves[0].get("_deleted")}
            assert {d["id"]: d["rev"] for d in listed["docs"]} == live
            assert not any(d["conflicts"] for d in listed["docs"])
        assert run_ingest(restored) >= 2
        with restored.app_context():
            assert db.session.get(Submission, 1) is not None
            assert {more[0]["_id"]} <= {row.doc_id for row in db.session.execute(
                select(Submission)).scalars()}
            db.session.remove()
            db.engine.dispose()


def test_damaged_backup_is_refused_before_anything_is_written(app, fresh_database_url,
                                                               tmp_path):
    backup = tmp_path / "backup"
    done = app.test_cli_runner().invoke(args=["backup", str(backup)])
    assert done.exit_code == 0, done.output
    forms_file = backup / "couch" / "forms.jsonl.gz"
    lines = gzip.decompress(forms_file.read_bytes()).splitlines()
    forms_file.write_bytes(gzip.compress(b"\n".join(lines[:-1]) + b"\n"))  # the end line lost
    with fresh_couch(tmp_path / "couch2") as couch2:
        restored = create_app(make_config(couch2, fresh_database_url, tmp_path / "restored"))
        refused = restored.test_cli_runner().invoke(args=["restore", str(backup)])
        assert refused.exit_code != 0
        assert "couch/forms.jsonl.gz" in refused.output and "checksum" in refused.output
        assert "forms" not in couch2.client().all_dbs()
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()
