"""`sotay backup DIR` and `sotay restore DIR`: everything Sotay keeps, to a folder and back.

A backup holds the SQL database (PostgreSQL: `pg_dump`'s custom format;
SQLite: a copy made with SQLite's backup API, consistent while the app
runs), every CouchDB database Sotay owns (`forms`, each volunteer's
`userdb-...`, the volunteers' `_users` entries; with `_security`, attachments
and revision ids, see `sync.backup`), the photo store, and `manifest.json`
(written last: a folder without one is not a backup) with counts, SHA-256
checksums, the time and the versions of Sotay and the servers.

The order makes the parts agree: the ingest's checkpoints are read first,
then SQL is copied, then CouchDB and the photos, each a superset of what
the SQL copy refers to. A restore goes into a fresh SQL database and a
fresh CouchDB (it refuses a non-empty one), checks every checksum before it
writes anything, and sets each volunteer database's checkpoint to the
point in the new database from which the ingest has something to read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from messages import both
from server import services
from server.cli import couch_checked
from server.models import db
from server.queries import backup as q
from sync import embedded
from sync.backup import BackupFileError, dump_db, dump_users, load_db, read_header
from sync.couch import USERS_DB, CouchError
from sync.provision import FORMS_DB

FORMAT = 1
MANIFEST = "manifest.json"
MEDIA_SUMS = "media.sha256"
BLOCK = 1024 * 1024


class BackupError(click.ClickException):
    """What stops a backup or a restore, said in Vietnamese and English: a `cli.backup.`
    or `cli.restore.` message of the catalogue."""

    def __init__(self, code: str, **params) -> None:
        super().__init__(both(code, **params))


# -- files and checksums ---------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy a file, returning the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as inp, target.open("wb") as out:
        while block := inp.read(BLOCK):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _file_entry(folder: Path, path: Path) -> tuple[str, dict]:
    return path.relative_to(folder).as_posix(), {"sha256": _sha256(path),
                                                 "bytes": path.stat().st_size}


# -- SQL ---------------------------------------------------------------------


def _major(text: str) -> int:
    found = re.search(r"(\d+)(?:\.\d+)?", text)
    return int(found.group(1)) if found else 0


def _pg_tool(name: str) -> tuple[str, int]:
    """The path and major version of `pg_dump` or `pg_restore`."""
    path = shutil.which(name)
    if path is None:
        raise BackupError("cli.backup.tool_missing", tool=name)
    said = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    return path, _major(said.stdout.split(")", 1)[-1])  # "pg_dump (PostgreSQL) 15.20 (Debian…)"


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as libpq takes it, the password moved to the environment (not on
    a command line others can read)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[-600:]
        raise BackupError("cli.backup.tool_failed", tool=what, said=said)


def dump_sql(url: str, folder: Path) -> dict:
    """Copy the SQL database into `folder`; return its manifest entry, with the rows of
    each table the copy holds."""
    server = q.server_version()
    db.session.rollback()
    if make_url(url).get_backend_name() == "sqlite":
        path = folder / "sql.sqlite"
        source = sqlite3.connect(make_url(url).database)
        target = sqlite3.connect(path)
        try:
            source.backup(target)  # in one step: one read transaction, a consistent copy
        finally:
            target.close()
            source.close()
        return {"dialect": "sqlite", "file": path.name, "server_version": server,
                "rows": q.sqlite_row_counts(str(path))}
    tool, tool_major = _pg_tool("pg_dump")
    if tool_major < _major(server):
        raise BackupError("cli.backup.pg_dump_too_old", tool=tool_major, server=server,
                          needed=_major(server))
    path = folder / "sql.pgdump"
    libpq, env = _libpq(url)
    with q.exported_snapshot() as (snapshot, reading):
        _run([tool, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
              "--file", str(path), libpq], env, "pg_dump")
        rows = q.row_counts(reading)
    return {"dialect": "postgresql", "file": path.name, "server_version": server,
            "pg_dump": tool_major, "rows": rows}


def load_sql(url: str, folder: Path, entry: dict) -> None:
    """Put the SQL copy back in place of the (empty) database `url` names."""
    dialect = make_url(url).get_backend_name()
    if dialect != entry["dialect"]:
        raise BackupError("cli.restore.wrong_dialect", backup=entry["dialect"], target=dialect)
    db.session.remove()
    db.engine.dispose()  # no connection of ours holds a table the restore replaces
    source_path = folder / entry["file"]
    if dialect == "sqlite":
        source = sqlite3.connect(source_path)
        target = sqlite3.connect(make_url(url).database)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    tool, tool_major = _pg_tool("pg_restore")
    if tool_major < entry.get("pg_dump", 0):
        raise BackupError("cli.restore.pg_restore_too_old", tool=tool_major,
                          pg_dump=entry["pg_dump"])
    libpq, env = _libpq(url)
    _run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", "--dbname", libpq, str(source_path)], env, "pg_restore")


# -- the photo store -------------------------------------------------------------


def _media_files(root: Path) -> Iterator[Path]:
    """The store's files in a stable order, without a write's temporary file."""
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            if not name.startswith(".tmp-"):
                yield Path(folder) / name


def dump_media(root: Path, folder: Path) -> dict:
    count = size = 0
    with (folder / MEDIA_SUMS).open("w", encoding="utf-8") as sums:
        if root.is_dir():
            for path in _media_files(root):
                relative = path.relative_to(root).as_posix()
                sha = _copy_hashed(path, folder / "media" / relative)
                sums.write(f"{sha}  media/{relative}\n")
                count += 1
                size += path.stat().st_size
    return {"files": count, "bytes": size}


def load_media(folder: Path, root: Path) -> int:
    """Copy the photos back, each checked against its checksum; one already there with
    the same content is left as it is (the store is content-addressed)."""
    count = 0
    with (folder / MEDIA_SUMS).open(encoding="utf-8") as sums:
        for line in sums:
            sha, relative = line.rstrip("\n").split("  ", 1)
            target = root / Path(relative).relative_to("media")
            if not (target.is_file() and _sha256(target) == sha):
                temporary = target.with_name(".tmp-restore-" + target.name)
                if _copy_hashed(folder / relative, temporary) != sha:
                    temporary.unlink()
                    raise BackupError("cli.restore.photo_damaged", file=relative)
                os.replace(temporary, target)
            count += 1
    return count


# -- CouchDB ---------------------------------------------------------------------


def sotay_databases(all_dbs: list[str]) -> list[str]:
    """The CouchDB databases Sotay owns: `forms` and the volunteers'."""
    return [name for name in all_dbs if name == FORMS_DB or name.startswith("userdb-")]


@contextmanager
def couch_running(app: Flask) -> Iterator[None]:
    """CouchDB reachable for the command's duration: the embedded PouchDB Server is started
    for it when it is not already running (`sotay run` not started, or a new instance)."""
    couch = services.couch()
    try:
        couch.server_info()
    except CouchError as err:
        if err.status is not None or not app.config["COUCHDB_EMBEDDED"]:
            raise
    else:
        yield
        return
    from server.config import embedded_couch_dir

    process = embedded.start(Path(app.config["NODE_MODULES"]),
                             embedded_couch_dir(app.config), app.config["COUCHDB_PORT"])
    try:
        couch.ensure_admin()
        yield
    finally:
        embedded.stop(process)


def _server_versions(couch_info: dict) -> dict:
    vendor = (couch_info.get("vendor") or {}).get("name") or next(iter(couch_info), "")
    return {"sotay": version("sotay"), "couchdb": f"{vendor} {couch_info.get('version', '')}"}


# -- the two commands ------------------------------------------------------------


def back_up(app: Flask, folder: Path, say: Callable[[str], None]) -> dict:
    """Write a backup of everything into `folder` (new or empty); return its manifest."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupError("cli.backup.folder_not_empty", folder=folder)
    (folder / "couch").mkdir(parents=True)
    couch = services.couch()
    started = datetime.now(UTC)
    # Read before the SQL copy: its checkpoints can only be further on.
    ingested = q.checkpoints()
    names = q.couch_user_names()
    db.session.rollback()
    say("SQL…")
    sql = dump_sql(app.config["SQLALCHEMY_DATABASE_URI"], folder)
    databases = {}
    for name in sotay_databases(couch.all_dbs()):
        say(f"CouchDB {name}…")
        counts = dump_db(couch, name, folder / "couch" / f"{name}.jsonl.gz", ingested.get(name))
        databases[name] = asdict(counts) | {"file": f"couch/{name}.jsonl.gz",
                                            "ingested": name in ingested}
    users = dump_users(couch, names, folder / "couch" / f"{USERS_DB}.jsonl.gz")
    say(f"{both('cli.photos')}…")
    media = dump_media(Path(app.config["MEDIA_ROOT"]), folder)
    files = dict(_file_entry(folder, path) for path in
                 [folder / sql["file"], folder / MEDIA_SUMS, *sorted((folder / "couch").iterdir())])
    manifest = {"format": FORMAT, "started_at": started.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "versions": _server_versions(couch.server_info()) | {
                    "sql": f"{sql['dialect']} {sql['server_version']}"},
                "sql": sql, "couchdb": {"databases": databases, "users": asdict(users)},
                "media": media, "files": files}
    temporary = folder / (MANIFEST + ".tmp")
    temporary.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    os.replace(temporary, folder / MANIFEST)
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest, after checking every file it lists against its checksum."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError("cli.restore.no_manifest", folder=folder, manifest=MANIFEST)
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:
        raise BackupError("cli.restore.manifest_damaged", manifest=MANIFEST, error=err) from None
    if manifest.get("format") != FORMAT:
        raise BackupError("cli.restore.format_unsupported", format=manifest.get("format"))
    for relative, entry in manifest["files"].items():
        target = folder / relative
        if not target.is_file() or _sha256(target) != entry["sha256"]:
            raise BackupError("cli.restore.file_damaged", file=relative)
    return manifest


def _check_fresh(manifest: dict) -> None:
    """Refuse to restore over data: the SQL database and Sotay's CouchDB databases must be
    empty (tables and empty databases that `sotay init` or a start made are fine)."""
    filled = {table: rows for table, rows in q.row_counts().items() if rows}
    db.session.rollback()
    couch = services.couch()
    existing = set(couch.all_dbs())
    for name in manifest["couchdb"]["databases"]:
        if name in existing:
            info = couch.db_info(name)
            if info.get("doc_count") or info.get("doc_del_count"):
                filled[f"CouchDB {name}"] = info["doc_count"]
    if filled:
        listed = ", ".join(f"{name} ({rows})" for name, rows in sorted(filled.items())[:8])
        raise BackupError("cli.restore.not_fresh", listed=listed)


def restore(app: Flask, folder: Path, say: Callable[[str], None]) -> dict:
    """Put a backup back into a fresh SQL database and CouchDB; return what was restored."""
    manifest = read_manifest(folder)
    _check_fresh(manifest)
    couch = services.couch()
    say("SQL…")
    load_sql(app.config["SQLALCHEMY_DATABASE_URI"], folder, manifest["sql"])
    db.create_all()  # tables this version has that the backup's lacked
    say("CouchDB _users…")
    load_db(couch, folder / "couch" / f"{USERS_DB}.jsonl.gz", create=False)
    restored = {}
    for name, entry in manifest["couchdb"]["databases"].items():
        say(f"CouchDB {name}…")
        path = folder / entry["file"]
        if read_header(path)["database"] != name:
            raise BackupFileError(f"{entry['file']} holds another database")
        counts, resume_at = load_db(couch, path)
        if name.startswith("userdb-"):
            if entry["ingested"]:
                q.set_checkpoint(name, resume_at)
            else:
                q.drop_checkpoint(name)
            db.session.commit()
        restored[name] = asdict(counts)
    say(f"{both('cli.photos')}…")
    photos = load_media(folder, Path(app.config["MEDIA_ROOT"]))
    return {"databases": restored, "photos": photos, "rows": q.row_counts()}


@click.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
@couch_checked
def backup_command(folder: Path) -> None:
    """Back up SQL, CouchDB and the photos into FOLDER (new or empty)."""
    app = current_app._get_current_object()
    with couch_running(app):
        manifest = back_up(app, folder, lambda text: click.echo(text, err=True))
    couch = manifest["couchdb"]
    click.echo(f"{folder}: SQL {sum(manifest['sql']['rows'].values())} {both('cli.count.rows')}, "
               f"CouchDB {len(couch['databases'])} {both('cli.count.databases')} "
               f"({sum(d['docs'] for d in couch['databases'].values())} "
               f"{both('cli.count.docs')}), {couch['users']['docs']} {both('cli.count.users')}, "
               f"{manifest['media']['files']} {both('cli.count.photo_files')}")


@click.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
@couch_checked
def restore_command(folder: Path) -> None:
    """Restore a backup from FOLDER into a fresh SQL database and CouchDB."""
    app = current_app._get_current_object()
    try:
        with couch_running(app):
            done = restore(app, folder, lambda text: click.echo(text, err=True))
    except BackupFileError as err:
        raise BackupError("cli.restore.backup_damaged", error=err) from None
    click.echo(f"{folder}: SQL {sum(done['rows'].values())} {both('cli.count.rows')}, CouchDB "
               f"{len(done['databases'])} {both('cli.count.databases')}, {done['photos']} "
               f"{both('cli.count.photo_files')}. {both('cli.restore.start_again')}.")
