"""Shared fixtures: a real PouchDB Server, SQLite and PostgreSQL databases, the app.

The suite starts its own PouchDB Server (npm) on a free port with a temporary
data folder; with `SOTAY_TEST_COUCHDB_URL` set (`http://admin:pw@host:port`)
every CouchDB-facing test runs against that Apache CouchDB 3 server instead
(`scripts/test-couchdb3` starts one from `../shared/couchdb` for `make test`).
SQL-facing tests run once on SQLite and once on the PostgreSQL server of this
machine (127.0.0.1:5432, user postgres), in a throwaway database created here
and dropped at the end; only where no PostgreSQL is reachable is that variant
skipped, saying so.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy import create_engine, text

from server import schema
from server.actions.auth import CLI_ACTOR
from server.actions.users import create_user
from server.app import create_app
from server.cli import initialise
from server.models import db
from sync import embedded
from sync.couch import Couch, split_credentials

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("SOTAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
COUCHDB_URL = os.environ.get("SOTAY_TEST_COUCHDB_URL", "")
# The Apache CouchDB 3 release beside the project (start-couchdb, stop-couchdb).
COUCHDB3_RELEASE = Path(os.environ.get("SOTAY_COUCHDB3_RELEASE",
                                       ROOT.parent / "shared" / "couchdb"))
ON_COUCHDB3 = bool(COUCHDB_URL)
# For the few tests about one server's behaviour, not Sotay's.
pouchdb_only = pytest.mark.skipif(ON_COUCHDB3, reason="about PouchDB Server's own behaviour")
couchdb3_only = pytest.mark.skipif(not ON_COUCHDB3,
                                   reason="about Apache CouchDB 3 (SOTAY_TEST_COUCHDB_URL unset)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class CouchServer:
    base: str
    admin: str
    password: str
    port: int
    kind: str = "pouchdb"  # or "couchdb3"

    @property
    def url(self) -> str:
        return self.base.replace("http://", f"http://{self.admin}:{self.password}@")

    def client(self) -> Couch:
        return Couch(self.base, self.admin, self.password)


@contextmanager
def pouchdb_server(folder: Path) -> Iterator[CouchServer]:
    """A real PouchDB Server with an admin, data in `folder`, stopped on leaving."""
    port = free_port()
    process = embedded.start(ROOT / "node_modules", folder, port)
    server = CouchServer(f"http://127.0.0.1:{port}", "admin", secrets.token_hex(8), port)
    server.client().ensure_admin()
    try:
        yield server
    finally:
        embedded.stop(process)


@contextmanager
def couchdb3_node(name: str) -> Iterator[CouchServer]:
    """An Apache CouchDB 3 node of the caller's own (own folder, port and data), from the
    release beside the project; the test is skipped, saying why, where there is none.

    The release unpacks once into `.cache/couchdb3/NAME` (ignored by git); the data
    is new each time."""
    start, stop = COUCHDB3_RELEASE / "start-couchdb", COUCHDB3_RELEASE / "stop-couchdb"
    if not start.exists():
        pytest.skip(f"no Apache CouchDB 3 release at {COUCHDB3_RELEASE} (start-couchdb)")
    folder = ROOT / ".cache" / "couchdb3" / name
    shutil.rmtree(folder / "couchdb" / "data", ignore_errors=True)
    started = subprocess.run([str(start), str(folder), str(free_port()), secrets.token_hex(8)],
                             capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        pytest.fail(f"start-couchdb failed: {started.stderr.strip()[-500:]}")
    try:
        yield couchdb3_server(started.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run([str(stop), str(folder)], capture_output=True, timeout=60)


def couchdb3_server(url: str) -> CouchServer:
    """The Apache CouchDB 3 server `SOTAY_TEST_COUCHDB_URL` names (its admin in the URL)."""
    base, admin, password = split_credentials(url)
    return CouchServer(base, admin, password, urlsplit(base).port or 5984, "couchdb3")


@contextmanager
def own_couch_server(folder: Path) -> Iterator[CouchServer]:
    """A server for one module's tests: a PouchDB Server of its own, or the CouchDB 3
    server the suite was pointed at."""
    if ON_COUCHDB3:
        yield couchdb3_server(COUCHDB_URL)
        return
    with pouchdb_server(folder) as server:
        yield server


@pytest.fixture(scope="session")
def couch_server(tmp_path_factory) -> Iterator[CouchServer]:
    """A real CouchDB-API server with an admin, for the whole session: PouchDB Server,
    or the Apache CouchDB 3 server of `SOTAY_TEST_COUCHDB_URL`."""
    with own_couch_server(tmp_path_factory.mktemp("couch")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"sotay_test_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {err}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sotay.db'}"
    return request.getfixturevalue("postgres_url").replace("postgresql://",
                                                           "postgresql+psycopg://")


@pytest.fixture
def fresh_database_url(database_url, tmp_path):
    """A second, empty database of the same kind."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'clean.db'}"
        return
    name = f"sotay_clean_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_config(couch: CouchServer, database_url: str, folder: Path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": secrets.token_hex(16),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "COUCHDB_URL": couch.url,
        "COUCHDB_EMBEDDED": False,
        "MEDIA_ROOT": str(folder / "media"),
        "PHOTO_MAX_BYTES": 15 * 1024 * 1024,
        "SESSION_HOURS": 24,
        "INGEST_POLL_SECONDS": 0.2,
        "NODE_MODULES": str(ROOT / "node_modules"),
        "INSTANCE": str(folder),
    }


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database the migrations brought to head, once a session: each test's
    database is a copy of it."""
    path = tmp_path_factory.mktemp("template") / "sotay.db"
    engine = create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


def empty_database(database_url: str, sqlite_template: Path) -> None:
    """Make `database_url` a database at head with no rows: a copy of the migrated
    template on SQLite; on PostgreSQL the session's database, which the migrations
    brought to head the first time, emptied."""
    if database_url.startswith("sqlite"):
        shutil.copyfile(sqlite_template, database_url.removeprefix("sqlite:///"))
        return
    engine = create_engine(database_url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(db.metadata.tables)} RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture
def app(couch_server, database_url, tmp_path, sqlite_template):
    empty_database(database_url, sqlite_template)
    app = create_app(make_config(couch_server, database_url, tmp_path))
    initialise(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    couch_db: str | None


def make_account(app, role: str, residential_group: str | None = None) -> Account:
    username = f"{role[:3]}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    with app.app_context():
        user = create_user(CLI_ACTOR, username, password, role, residential_group)
        couch_db = user.couch_db
        db.session.commit()
    return Account(username, password, couch_db)


@pytest.fixture
def volunteer(app) -> Account:
    return make_account(app, "volunteer", "tdp03")


@pytest.fixture
def reviewer(app) -> Account:
    return make_account(app, "reviewer")


def log_in(client, account: Account) -> None:
    reply = client.post("/api/session", json={"username": account.username,
                                              "password": account.password})
    assert reply.status_code == 200, reply.get_json()


def http_log_in(base_url: str, account: Account) -> tuple[http.client.HTTPConnection, str]:
    """Log in over real HTTP; return the open connection and the session cookie."""
    conn = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    conn.request("POST", "/api/session", json.dumps(
        {"username": account.username, "password": account.password}),
        {"Content-Type": "application/json"})
    login = conn.getresponse()
    cookie = login.getheader("Set-Cookie").split(";")[0]
    login.read()
    return conn, cookie


def body(reply) -> dict | list:
    """A CouchDB reply's JSON (CouchDB says text/plain unless asked for JSON)."""
    return json.loads(reply.data)


@dataclass
class LiveServer:
    url: str
    app: object


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """The app served by waitress on a free port, in a thread, for real HTTP clients."""
    with serving(app) as server:
        yield server


@contextmanager
def serving(app) -> Iterator[LiveServer]:
    """`app` served by waitress on a free port, in a thread, until leaving."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=free_port(), threads=16,
                           channel_timeout=60)
    closing = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:
            # Closing the socket under a running loop ends it this way; only then.
            if not closing.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.effective_port}", app)
    finally:
        closing.set()
        server.close()
        thread.join(5)


@pytest.fixture
def ingest_worker(app) -> Iterator[threading.Event]:
    """The real ingest loop and feedback delivery in threads, as `sotay worker` runs them."""
    from media.pipeline import Limits
    from server import services
    from server.ingest_store import SqlIngestStore
    from server.worker import background_loop
    from sync.ingest import follow

    stop = threading.Event()

    def ingest() -> None:
        with app.app_context():
            follow(services.couch(), SqlIngestStore(), services.photo_store(), Limits(), stop,
                   app.config["INGEST_POLL_SECONDS"])

    threads = [threading.Thread(target=ingest, daemon=True),
               threading.Thread(target=background_loop, args=(app, stop), daemon=True)]
    for thread in threads:
        thread.start()
    yield stop
    stop.set()
    for thread in threads:
        thread.join(10)
