"""The `sotay` command: set-up, the three processes, accounts, forms and exports.

`sotay run` is what `make run` calls: it initialises the instance, starts the
embedded CouchDB-API server (unless SOTAY_COUCHDB_URL points elsewhere), the
ingest worker and the web server as children, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from forms.commands import load_definition, report
from forms.shipped import shipped_forms
from media.pipeline import Limits
from server import services
from server.actions import duplicates, reviews
from server.actions.auth import CLI_ACTOR
from server.actions.exports import totals_csv
from server.actions.forms import publish
from server.actions.health import database_room, held_list, release_database
from server.actions.indicators import campaign_indicators
from server.actions.media_admin import reprocess_photos
from server.actions.users import create_user, deactivate_user
from server.config import build_config, embedded_couch_dir, instance_path
from server.errors import Problem, problem
from server.ingest_store import SqlIngestStore
from server.models import db
from server.queries.submissions import all_photo_shas
from server.queries.users import get_user_by_name
from sync import embedded
from sync.couch import AdminRefused, CouchError, split_credentials
from sync.ingest import PAGE_SIZE, follow
from sync.provision import provision_forms_db
from sync.validation import tune_for_ingest, validator_for

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


def _fail(err: Problem) -> None:
    detail = f" {err.detail}" if err.detail else ""
    raise click.ClickException(f"{err.vi} / {err.en} ({err.code}){detail}")


def _commit_or_fail(action, *args, **kwargs):
    """Run one action as one transaction, as a request would."""
    try:
        result = action(*args, **kwargs)
        db.session.commit()
        return result
    except Problem as err:
        db.session.rollback()
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
    """Prepare the instance: CouchDB admin, forms database, shipped forms, admin account."""
    password = initialise(current_app._get_current_object())
    if password:
        click.echo(f"Tài khoản quản trị / admin account: admin  mật khẩu / password: {password}")
        click.echo("Hãy ghi lại, mật khẩu chỉ hiện một lần. / Write it down: shown only once.")


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
    feedback = threading.Thread(target=_background_loop, args=(app, stop), daemon=True)
    feedback.start()
    validator = validator_for(app.config.get("INGEST_VALIDATION_PROCESSES"),
                              sql_in_process=db.engine.dialect.name == "sqlite")
    click.echo("ingest worker: following volunteer databases")
    try:
        validator.warm()
        follow(services.couch(), SqlIngestStore(), services.photo_store(), limits, stop,
               app.config["INGEST_POLL_SECONDS"], app.config.get("INGEST_SWEEP_SECONDS", 300),
               validator, app.config.get("INGEST_PAGE_SIZE", PAGE_SIZE))
    finally:
        validator.close()
    feedback.join(5)


def _background_loop(app: Flask, stop: threading.Event) -> None:
    """Beside the ingest: deliver reviewers' decisions to the phones (retrying until CouchDB
    takes them) and check new surveys for duplicates."""
    while not stop.is_set():
        busy = False
        refused: AdminRefused | None = None
        for step in (reviews.deliver_feedback, duplicates.check_new_surveys):
            with app.app_context():
                try:
                    busy = bool(step()) or busy
                    db.session.commit()
                except AdminRefused as err:  # the client sends the password again later
                    db.session.rollback()
                    refused = err
                except Exception:  # a failed step is retried on the next turn
                    db.session.rollback()
                    app.logger.exception("%s failed; retrying", step.__name__)
        if refused is not None:
            app.logger.error("%s", refused)
            stop.wait(max(app.config["INGEST_POLL_SECONDS"], refused.seconds_left()))
        elif not busy:
            stop.wait(app.config["INGEST_POLL_SECONDS"])


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
@click.option("--group", "residential_group", help="Tổ dân phố / residential group, e.g. tdp03")
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
        click.echo(f"mật khẩu / password: {password}")
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
        raise click.ClickException(f"{len(problems)} lỗi, chưa phát hành / {len(problems)} "
                                   "problems, not published")
    new = _commit_or_fail(publish, CLI_ACTOR, definition)
    click.echo(f"{definition['id']} {definition['version']}: "
               + ("đã phát hành / published" if new else "đã có, không đổi / already published"))


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
    with click.progressbar(length=total, label="ảnh / photos") as bar:
        for sha, problem_text in reprocess_photos(CLI_ACTOR, limits):
            db.session.commit()
            if problem_text:
                problems += 1
                click.echo(f"\nảnh / photo {sha[:16]}: {problem_text}", err=True)
            bar.update(1)
    db.session.commit()
    click.echo(f"{total - problems}/{total} ảnh đã xử lý lại / photos reprocessed")


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
    click.echo(f"{len(held)} cơ sở dữ liệu bị tạm giữ / databases held")


@ingest_group.command("release")
@click.argument("couch_db")
@with_appcontext
def ingest_release(couch_db: str) -> None:
    """Let the ingest and the volunteer's phone at a held database again."""
    _commit_or_fail(release_database, CLI_ACTOR, couch_db)
    click.echo(f"{couch_db}: đã mở lại / released")


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


# A child that stops is started again, unless it keeps stopping: then the
# problem is not passing (a broken install, a port taken) and `run` stops all.
# The CouchDB-API server is the exception: what stops it is usually one request
# or one broken database, which the gateway and the ingest's held databases keep
# from happening again; the web server and the worker go on meanwhile (/healthz
# says CouchDB is down), so it is started again, waiting longer each time.
RESTARTS_ALLOWED = 5
RESTART_WINDOW_SECONDS = 60.0
BACKOFF_MAX_SECONDS = 30.0


@dataclass
class _Child:
    """One process `sotay run` keeps running, and how to start it again."""

    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    restarts: deque = field(default_factory=deque)
    keep_trying: bool = False  # restart with back-off for ever, never stop everything
    not_before: float = 0.0  # when the next start may be tried

    def restart_allowed(self, now: float) -> bool:
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW_SECONDS:
            self.restarts.popleft()
        return self.keep_trying or len(self.restarts) < RESTARTS_ALLOWED

    def backoff(self) -> float:
        """Seconds to wait before the next start: none at first, then doubling."""
        if not self.keep_trying or len(self.restarts) < 2:
            return 0.0
        return min(BACKOFF_MAX_SECONDS, 2.0 ** (len(self.restarts) - 2))


@click.command("run")
def run_command() -> None:
    """Start everything: embedded CouchDB API, ingest worker, web server. Ctrl-C stops all.

    A process that stops on its own is started again (at most 5 times a minute).
    """
    config = build_config()
    children: list[_Child] = []
    if config["COUCHDB_EMBEDDED"]:
        folder = embedded_couch_dir(config)
        files = embedded.OpenFiles(embedded.raise_open_files_limit())
        click.echo(f"CouchDB API (PouchDB Server) on 127.0.0.1:{config['COUCHDB_PORT']}; "
                   f"giới hạn {files.limit} tệp mở, đủ cho khoảng {files.room_for} tình nguyện "
                   f"viên / open-files limit {files.limit}, room for about {files.room_for} "
                   f"volunteers")
        couch = _Child("PouchDB Server", functools.partial(
            embedded.start, Path(config["NODE_MODULES"]), folder, config["COUCHDB_PORT"]),
            keep_trying=True)
        couch.process = couch.start()
        children.append(couch)
    try:
        from server.app import create_app

        try:
            app = create_app()
            password = initialise(app)
        except CouchError as err:
            raise couch_unusable(err, config["COUCHDB_URL"]) from None
        if password:
            click.echo(f"Tài khoản quản trị / admin account: admin  mật khẩu / password: "
                       f"{password}\nHãy ghi lại, chỉ hiện một lần. / Shown only once.")
        if config["COUCHDB_EMBEDDED"]:
            threading.Thread(target=_watch_database_room, args=(app, folder), daemon=True,
                             name="database-room").start()
        sotay = [sys.executable, "-m", "server.cli"]
        for name, command in (("ingest worker", "worker"), ("web server", "serve")):
            child = _Child(name, functools.partial(subprocess.Popen, [*sotay, command]))
            child.process = child.start()
            children.append(child)
        _supervise(children)
    finally:
        _stop_children([child.process for child in children if child.process is not None])


# How often `run` counts the volunteers against what PouchDB Server's open-files
# limit allows.
ROOM_CHECK_SECONDS = 60.0


def _watch_database_room(app: Flask, couch_dir: Path) -> None:
    """Warn, before PouchDB Server runs out of open files on a sweep, that the
    volunteers' databases near what its limit allows; again whenever their number
    changes while they do."""
    said = None
    while True:
        files = embedded.open_files(couch_dir)
        with app.app_context():
            try:
                room = database_room(files) if files is not None else None
            except Exception:  # SQL busy or away: counted again next time
                room = None
            db.session.rollback()
        if room is not None and room["state"] != "ok" and room["volunteer_databases"] != said:
            click.echo(f"{room['vi']} / {room['en']}", err=True)
            said = room["volunteer_databases"]
        time.sleep(ROOM_CHECK_SECONDS)


def _supervise(children: list[_Child]) -> None:
    """Keep the children running until a signal asks to stop, or one keeps failing."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.is_set():
        for child in children:
            if child.process is not None and child.process.poll() is None:
                continue
            code = child.process.returncode if child.process is not None else None
            if code == EXIT_CONFIG:
                click.echo(f"{child.name} dừng vì cấu hình sai (xem ở trên); dừng tất cả / "
                           f"stopped on a configuration error (see above); stopping all",
                           err=True)
                return
            now = time.monotonic()
            if now < child.not_before:
                continue
            if not child.restart_allowed(now):
                click.echo(f"{child.name} đã dừng {RESTARTS_ALLOWED} lần trong một phút; dừng "
                           f"tất cả / stopped {RESTARTS_ALLOWED} times in a minute (exit "
                           f"{code}); stopping all", err=True)
                return
            if child.process is not None:  # it stopped (not a start that failed)
                child.restarts.append(now)
                wait = child.backoff()
                if wait:
                    child.process = None
                    child.not_before = now + wait
                    click.echo(f"{child.name} đã dừng / stopped (exit {code}); khởi động lại "
                               f"sau / restarting in {wait:.0f} s", err=True)
                    continue
                click.echo(f"{child.name} đã dừng / stopped (exit {code}); khởi động lại / "
                           f"restarting", err=True)
            try:
                child.process = child.start()
            except (OSError, embedded.EmbeddedCouchError) as err:
                child.process = None
                child.restarts.append(now)
                child.not_before = now + child.backoff()
                click.echo(f"{child.name}: {err}", err=True)
        stopping.wait(0.5)
    click.echo("stopping…")


def _stop_children(children: list[subprocess.Popen]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in reversed(children):
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


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
                    ingest_group, export_group, backup_command, restore_command):
        app.cli.add_command(command)
    app.cli.add_command(forms_group)


cli = FlaskGroup(create_app=_make_app, add_default_commands=False,
                 help="Sotay: khảo sát thực địa / field survey system")
cli.add_command(run_command)


def main() -> None:
    cli.main(prog_name="sotay")


if __name__ == "__main__":
    main()
