"""`sotay worker`: the ingest, and beside it the delivery of reviewers' decisions
to the phones and the duplicate checks.

Any number of workers may run at once, on one machine or several sharing
one SQL database and one CouchDB: the ingest's queue gives each volunteer
database with news to one worker at a time (`sync.ingest.following`).
"""

from __future__ import annotations

import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from media.pipeline import Limits
from server import services
from server.actions import duplicates, reviews
from server.command_errors import couch_checked
from server.ingest_store import SqlIngestStore
from server.models import db
from server.queries.jobs import one_worker_at_a_time
from server.transaction import transacting
from sync.couch import AdminRefused
from sync.ingest import PAGE_SIZE, follow
from sync.validation import tune_for_ingest, validator_for


@click.command("worker")
@with_appcontext
@couch_checked
def worker_command() -> None:
    """Run the ingest worker until stopped."""
    app = current_app._get_current_object()
    services.couch().check_admin()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    limits = Limits(max_bytes=app.config["PHOTO_MAX_BYTES"])
    tune_for_ingest()
    feedback = threading.Thread(target=background_loop, args=(app, stop), daemon=True)
    feedback.start()
    validator = validator_for(app.config.get("INGEST_VALIDATION_PROCESSES"),
                              sql_in_process=db.engine.dialect.name == "sqlite")
    try:
        validator.warm()
        store = SqlIngestStore(app)
        click.echo(f"ingest worker {store.worker_id}: following volunteer databases")
        follow(services.couch(), store, services.photo_store(), limits, stop,
               app.config["INGEST_POLL_SECONDS"], app.config.get("INGEST_SWEEP_SECONDS", 300),
               validator, app.config.get("INGEST_PAGE_SIZE", PAGE_SIZE))
    finally:
        validator.close()
    feedback.join(5)


def background_loop(app: Flask, stop: threading.Event) -> None:
    """Beside the ingest: deliver reviewers' decisions to the phones and check new
    surveys for duplicates. An item that fails is tried again later with a budget
    (`server.actions.jobs`); with several workers, one at a time does each step."""
    while not stop.is_set():
        busy = False
        refused: AdminRefused | None = None
        for step in (reviews.deliver_feedback, duplicates.check_new_surveys):
            with app.app_context():
                try:
                    with transacting():
                        if one_worker_at_a_time(step.__name__):  # else another is at it
                            busy = bool(step()) or busy
                except AdminRefused as err:  # the client sends the password again later
                    refused = err
                except Exception:  # a failed step is retried on the next turn
                    app.logger.exception("%s failed; retrying", step.__name__)
        if refused is not None:
            app.logger.error("%s", refused)
            stop.wait(max(app.config["INGEST_POLL_SECONDS"], refused.seconds_left()))
        elif not busy:
            stop.wait(app.config["INGEST_POLL_SECONDS"])
