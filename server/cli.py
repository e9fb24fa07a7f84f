"""The `sotay` command: set-up, the three processes, accounts, forms and exports.

`sotay run` is what `make run` calls: it initialises the instance, starts the
embedded CouchDB-API server (unless SOTAY_COUCHDB_URL points elsewhere), the
ingest worker and the web server as children, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from forms.commands import load_definition, report
from forms.shipped import shipped_forms
from media.pipeline import Limits
from messages import both
from server import schema, services
from server.actions import jobs
from server.actions.auth import CLI_ACTOR
from server.actions.exports import totals_csv
from server.actions.forms import publish
from server.actions.health import database_room, held_list, release_database
from server.actions.indicators import campaign_indicators
from server.actions.media_admin import reprocess_photos
from server.actions.users import create_user, deactivate_user
from server.command_errors import couch_checked
from server.config import embedded_couch_dir, instance_path
from server.errors import Problem
from server.models import db
from server.queries.submissions import all_photo_shas
from server.queries.users import get_user_by_name
from server.supervisor import run_command
from server.transaction import transacting
from server.worker import worker_command
from sync import embedded
from sync.provision import provision_forms_db


def _fail(err: Problem) -> None:
    detail = f" {err.detail}" if err.detail else ""
    raise click.ClickException(f"{err.vi} / {err.en} ({err.code}){detail}")


def _commit_or_fail(action, *args, **kwargs):
    """Run one action as one transaction, as a request would; a problem is one line."""
    try:
        with transacting():
            return action(*args, **kwargs)
    except Problem as err:
        _fail(err)


def initialise(app: Flask) -> str | None:
    """Prepare CouchDB and SQL, publish the shipped forms; return a new admin's password."""
    with app.app_context():
        couch = services.couch()
        couch.ensure_admin()
        provision_forms_db(couch)
        for definition in shipped_forms():
            _commit_or_fail(publish, CLI_ACTOR, definition)
        if get_user_by_name("admin") is None:
            password = secrets.token_urlsafe(12)
            _commit_or_fail(create_user, CLI_ACTOR, "admin", password, "admin",
                            full_name="Quản trị viên")
            return password
    return None


@click.command("init")
@with_appcontext
@couch_checked
def init_command() -> None:
    """Prepare the instance: SQL schema, CouchDB admin, forms database, shipped forms, admin
    account."""
    password = initialise(current_app._get_current_object())
    revision = schema.revision(db.engine)  # the app's start brought it to the newest
    click.echo(both("cli.init.schema_revision", revision=revision))
    if password:
        say_admin_password(password)


def say_admin_password(password: str) -> None:
    """Print the new admin account's password, once (`sotay init` and `sotay run`)."""
    click.echo(f"{both('cli.init.admin_account')}: admin  {both('cli.password')}: {password}")
    click.echo(both("cli.init.write_it_down"))


# PouchDB fetches attachments in parallel; waitress's default of 100 open
# connections is reached by a single phone pulling photos. The sync gateway
# takes at most SYNC_CONCURRENCY (48) threads, leaving the rest to pages.
WAITRESS_OPTIONS = {"threads": 64, "channel_timeout": 180, "connection_limit": 1000}


@click.command("serve")
@click.option("--host", default=lambda: os.environ.get("SOTAY_HOST", "127.0.0.1"))
@click.option("--port", default=lambda: int(os.environ.get("SOTAY_PORT", 5000)), type=int)
@with_appcontext
@couch_checked
def serve_command(host: str, port: int) -> None:
    """Serve the web app with waitress."""
    from waitress import serve

    services.couch().check_admin()
    click.echo(f"web: http://{host}:{port}/")
    app = current_app._get_current_object()
    # waitress refuses (413) a body past the gateway's limit before buffering it.
    serve(app, host=host, port=port, **WAITRESS_OPTIONS,
          max_request_body_size=app.config["SYNC_MAX_BODY_BYTES"] + 1024 * 1024)


@click.group("users")
def users_group() -> None:
    """Manage accounts."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["volunteer", "reviewer", "admin"]), required=True)
@click.option("--group", "residential_group", help=f"{both('cli.users.group')}, e.g. tdp03")
@click.option("--name", "full_name", default="")
@click.option("--password", help="Omit to generate one (printed once).")
@with_appcontext
@couch_checked
def users_add(username: str, role: str, residential_group: str | None, full_name: str,
              password: str | None) -> None:
    """Create an account; a volunteer also gets a private CouchDB database."""
    generated = password is None
    password = password or secrets.token_urlsafe(9)
    user = _commit_or_fail(create_user, CLI_ACTOR, username, password, role,
                           residential_group, full_name)
    click.echo(f"{user.role} {user.username} created" + (f", database {user.couch_db}"
                                                        if user.couch_db else ""))
    if generated:
        click.echo(f"{both('cli.password')}: {password}")
    _warn_of_database_room(current_app.config)


def _warn_of_database_room(config: dict) -> None:
    """Say so when the volunteers' databases near what the running embedded PouchDB
    Server's open-files limit leaves room for."""
    files = embedded.open_files(embedded_couch_dir(config)) if config["COUCHDB_EMBEDDED"] else None
    if files is not None:
        room = database_room(files)
        if room["state"] != "ok":
            click.echo(f"{room['vi']} / {room['en']}", err=True)


@users_group.command("deactivate")
@click.argument("username")
@with_appcontext
@couch_checked
def users_deactivate(username: str) -> None:
    """Lock an account; a volunteer's sync stops at once, their data stays."""
    _commit_or_fail(deactivate_user, CLI_ACTOR, username)
    click.echo(f"{username} deactivated")


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
@couch_checked
def forms_publish(file: Path) -> None:
    """Publish a form version (JSON) to the phones; a published version never changes."""
    definition, problems = load_definition(file)
    if definition is None:  # unreadable, or problems to fix: each said, never a traceback
        report(problems)
        raise click.ClickException(both("cli.forms.not_published", count=len(problems)))
    new = _commit_or_fail(publish, CLI_ACTOR, definition)
    said = both("cli.forms.published") if new else both("cli.forms.already_published")
    click.echo(f"{definition['id']} {definition['version']}: {said}")


@click.group("media")
def media_group() -> None:
    """Photo store maintenance."""


@media_group.command("reprocess")
@with_appcontext
def media_reprocess() -> None:
    """Re-derive previews, thumbnails, facts and flags from the stored originals."""
    limits = Limits(max_bytes=current_app.config["PHOTO_MAX_BYTES"])
    total = len(all_photo_shas())
    problems = 0
    steps = reprocess_photos(CLI_ACTOR, limits)
    with click.progressbar(length=total, label=both("cli.photos")) as bar:
        while True:  # a transaction a photo: an interrupted run keeps what it finished
            with transacting():
                step = next(steps, None)
            if step is None:
                break
            sha, problem_text = step
            if problem_text:
                problems += 1
                click.echo(f"\n{both('cli.photo')} {sha[:16]}: {problem_text}", err=True)
            bar.update(1)
    click.echo(f"{total - problems}/{total} {both('cli.media.reprocessed')}")


@click.group("ingest")
def ingest_group() -> None:
    """Volunteer databases the ingest holds."""


@ingest_group.command("held")
@with_appcontext
def ingest_held() -> None:
    """List the databases held after they stopped the CouchDB-API server."""
    held = held_list()
    for item in held:
        click.echo(f"{item['couch_db']}  {item['volunteer'] or '?'}  {item['held_at']}  "
                   f"{item['reason']}")
    click.echo(f"{len(held)} {both('cli.ingest.held')}")


@ingest_group.command("release")
@click.argument("couch_db")
@with_appcontext
def ingest_release(couch_db: str) -> None:
    """Let the ingest and the volunteer's phone at a held database again."""
    _commit_or_fail(release_database, CLI_ACTOR, couch_db)
    click.echo(f"{couch_db}: {both('cli.ingest.released')}")


@click.group("jobs")
def jobs_group() -> None:
    """Background work that failed: feedback to phones, duplicate checks."""


@jobs_group.command("list")
@click.option("--failed", "only_failed", is_flag=True,
              help="Only those that used their retry budget.")
@with_appcontext
def jobs_list(only_failed: bool) -> None:
    """List failed items: kind, key, attempts, next try or failed, last error."""
    found = jobs.jobs_report(CLI_ACTOR, "failed" if only_failed else None)
    for job in found:
        when = "failed" if job["state"] == "failed" else f"next {job['run_after']}"
        click.echo(f"{job['id']}  {job['kind']}  {job['key']}  {job['attempts']}x  {when}  "
                   f"{job['last_error'][:200]}")
    click.echo(f"{len(found)} {both('cli.jobs.failed')}")


@jobs_group.command("retry")
@click.argument("job_id", type=int, required=False)
@with_appcontext
def jobs_retry(job_id: int | None) -> None:
    """Try a failed item again now with a fresh budget (all failed ones without JOB_ID)."""
    count = _commit_or_fail(jobs.retry, CLI_ACTOR, job_id)
    click.echo(f"{count} {both('cli.jobs.retried')}")


@click.group("export")
def export_group() -> None:
    """Export campaign data."""


@export_group.command("totals")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@with_appcontext
def export_totals(fmt: str, output) -> None:
    """Indicator totals by residential group (approved surveys only)."""
    for chunk in totals_csv(campaign_indicators(CLI_ACTOR)):
        output.write(chunk)


def _make_app() -> Flask:
    from server.app import create_app

    instance_path().mkdir(parents=True, exist_ok=True)
    return create_app()


def register_commands(app: Flask) -> None:
    from forms.commands import forms_cli
    from server.backup import backup_command, restore_command

    # A group of our own: adding `publish` to forms_cli itself would change a
    # module-level object every app shares.
    forms_group = click.Group("forms", commands={**forms_cli.commands, "publish": forms_publish},
                              help=forms_cli.help)
    for command in (init_command, worker_command, serve_command, users_group, media_group,
                    ingest_group, jobs_group, export_group, backup_command,
                    restore_command):
        app.cli.add_command(command)
    app.cli.add_command(forms_group)


cli = FlaskGroup(create_app=_make_app, add_default_commands=False,
                 help=f"Sotay: {both('cli.help')}")
cli.add_command(run_command)


def main() -> None:
    cli.main(prog_name="sotay")


if __name__ == "__main__":
    main()
