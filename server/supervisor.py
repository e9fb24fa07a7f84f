"""`sotay run`: the embedded CouchDB-API server, the ingest worker and the web
server as children of one process, kept running, stopped together on Ctrl-C."""

from __future__ import annotations

import functools
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
from flask import Flask

from messages import both
from server.actions.health import database_room
from server.command_errors import EXIT_CONFIG, couch_unusable
from server.config import build_config, embedded_couch_dir
from server.models import db
from sync import embedded
from sync.couch import CouchError

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
        room = both("cli.run.open_files", limit=files.limit, room=files.room_for)
        click.echo(f"CouchDB API (PouchDB Server) on 127.0.0.1:{config['COUCHDB_PORT']}; {room}")
        couch = _Child("PouchDB Server", functools.partial(
            embedded.start, Path(config["NODE_MODULES"]), folder, config["COUCHDB_PORT"]),
            keep_trying=True)
        couch.process = couch.start()
        children.append(couch)
    try:
        from server.app import create_app
        from server.cli import initialise, say_admin_password

        try:
            app = create_app()
            password = initialise(app)
        except CouchError as err:
            raise couch_unusable(err, config["COUCHDB_URL"]) from None
        if password:
            say_admin_password(password)
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
                click.echo(f"{child.name} {both('cli.run.config_error')}", err=True)
                return
            now = time.monotonic()
            if now < child.not_before:
                continue
            if not child.restart_allowed(now):
                said = both("cli.run.keeps_stopping", times=RESTARTS_ALLOWED, code=code)
                click.echo(f"{child.name} {said}", err=True)
                return
            if child.process is not None:  # it stopped (not a start that failed)
                child.restarts.append(now)
                wait = child.backoff()
                if wait:
                    child.process = None
                    child.not_before = now + wait
                    click.echo(f"{child.name} {both('cli.run.stopped')} (exit {code}); "
                               f"{both('cli.run.restarting_in')} {wait:.0f} s", err=True)
                    continue
                click.echo(f"{child.name} {both('cli.run.stopped')} (exit {code}); "
                           f"{both('cli.run.restarting')}", err=True)
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
