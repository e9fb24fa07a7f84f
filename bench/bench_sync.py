"""Bench of sync (issue 4): the gateway's cost to replication, and the ingest's
rate against the rate CouchDB can be read at.

1. PouchDB (Node, LevelDB, the replicator a phone runs) pushes 5,000 household
   surveys with 500 photos to a volunteer's database through the sync gateway
   (waitress, session cookie), and the same documents to another volunteer's
   database straight at the CouchDB-API server (basic auth as that
   volunteer's CouchDB user, so CouchDB's own checks cost the same on both
   sides), and to a third straight through a bare streaming pass-through
   (`passthrough.py`: the same WSGI server, no checks, the phone's basic
   auth sent on). Then a fresh phone pulls each database back the same way.
   Ratio = direct seconds / gateway seconds, the median over rounds (six
   by default, each with databases of its own; the rounds take turns at
   which way goes first, so no way always runs on a fuller server); goal
   >= 0.85. The pass-through's ratio, printed beside it, is the issue's
   yardstick ("a bare streaming pass-through already reaches about 0.9
   here, so authorisation must cost little").
2. The ingest (validation, revision and merge bookkeeping, SQL; duplicates
   are found later, off its path; validation where the worker does it: in
   its own thread on two cores or fewer, in a process of its own on more
   or, with more than one core, on SQLite)
   of 5,000 surveys without photos (photo
   derivation has its own bench, bench_media.py) against a bare read of the
   same database's `_changes?include_docs=true` in pages of the same size.
   Ratio = ingest docs/s / read docs/s, the median over rounds (each round
   a CouchDB database of its own, read, ingested and read-and-inserted one
   after the other, into the same SQL tables, which grow as the worker's do:
   the machine's speed drifts between rounds); goal >= 0.8.
   For reference, the same ratio for a bare loop that reads a page,
   inserts its bodies and commits (the issue's yardstick: "a bare
   read-and-insert loop already matches the read rate").

Both run on PouchDB Server and again on Apache CouchDB 3 (a node started
from `../shared/couchdb` beside the project, as the tests start one; where
that folder is absent, a line says the CouchDB 3 part was skipped). On each,
two more goals (issue 20) against the yardsticks of the same run: the
gateway >= 0.95x the bare pass-through (its seconds / the gateway's), and
the ingest >= 0.9x the bare read-and-insert loop (docs/s / docs/s), each the
median of the rounds' ratios. `goal:` lines for every goal and server come
last.

Everything runs here: its own PouchDB Server (and CouchDB 3 node) on a free
port, waitress, and a PostgreSQL database of its own per server (created on
the local server, as the tests do, and dropped after; or --database-url).
The ingest is measured on that database and again on a SQLite file.

Run: .venv/bin/python bench/bench_sync.py [--surveys 5000] [--photos 500] [--rounds 5]
     [--servers "PouchDB Server" "CouchDB 3"]
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.passthrough import passthrough_app  # noqa: E402
from media.pipeline import Limits  # noqa: E402
from server import services  # noqa: E402
from server.app import create_app  # noqa: E402
from server.cli import WAITRESS_OPTIONS, initialise  # noqa: E402
from server.ingest_store import SqlIngestStore  # noqa: E402
from server.models import SubmissionRevision, db, utcnow  # noqa: E402
from server.queries.bulk import insert_rows  # noqa: E402
from server.queries.users import get_user_by_name  # noqa: E402
from sync import embedded  # noqa: E402
from sync.couch import split_credentials  # noqa: E402
from sync.ingest import PAGE_SIZE, ingest_dbs  # noqa: E402
from sync.validation import Validator, tune_for_ingest, validator_for  # noqa: E402
from tests.conftest import (  # noqa: E402
    COUCHDB3_RELEASE,
    PG_ADMIN_URL,
    CouchServer,
    free_port,
    make_account,
    make_config,
)
from tests.sync.phone import Phone, phone_docs  # noqa: E402

GATEWAY_GOAL = 0.85
INGEST_GOAL = 0.8
# Issue 20: against the yardsticks measured in the same run, on each server.
GATEWAY_VS_BARE_GOAL = 0.95
INGEST_VS_BARE_GOAL = 0.9


# CPU seconds per process, from Linux's /proc (None elsewhere): where a side's time
# goes when two cores are shared by PouchDB Server, the phone or the worker, and
# PostgreSQL.
def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process we can see."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1:text.rfind(")")]
        found.append((int(stat.parent.name), int(text.rsplit(")", 1)[1].split()[1]), name))
    return found


def cpu_now(couch_pid: int) -> dict[str, float]:
    """CPU seconds so far: the CouchDB-API server (PouchDB Server or CouchDB 3), this
    process (the web server or the worker, with all their threads), our other children
    (the phone, a validation process) and PostgreSQL's processes (all of them: backends
    and background writers)."""
    own = os.times()
    processes = _processes()
    others = [pid for pid, parent, _ in processes if parent == os.getpid() and pid != couch_pid]
    postgres = [pid for pid, _, name in processes if name == "postgres"]
    return {"server": _proc_cpu(couch_pid) or 0.0, "Python": own.user + own.system,
            "children": own.children_user + own.children_system
            + sum(_proc_cpu(pid) or 0.0 for pid in others),
            "PostgreSQL": sum(_proc_cpu(pid) or 0.0 for pid in postgres)}


def cpu_since(before: dict[str, float], couch_pid: int) -> dict[str, float]:
    after = cpu_now(couch_pid)
    return {name: after[name] - before[name] for name in before}


def cpu_text(cpu: dict[str, float], names: dict[str, str]) -> str:
    return ", ".join(f"{label} {cpu[name]:.2f} s" for name, label in names.items())


def serve(app):
    from waitress.server import create_server

    # The settings `sotay serve` runs with, so the bench measures what ships (and
    # the pass-through is measured on the same server).
    server = create_server(app, host="127.0.0.1", port=free_port(), **WAITRESS_OPTIONS)
    threading.Thread(target=server.run, daemon=True).start()
    return server


WAYS = ("direct", "gateway", "bare")


def replication(app, bases: dict[str, str], couch: CouchServer, couch_pid: int,
                folder: Path, surveys: int, photos: int,
                first: int = 0) -> dict[str, float] | None:
    """Seconds to push and to pull each way (`WAYS`: straight to CouchDB, through
    the gateway, through a bare pass-through at `bases[way]`), starting with
    `WAYS[first]`; None, saying why, if one of them failed (the round is left out
    of the ratios, and the failures are counted in the summary)."""
    docs = phone_docs("bench", surveys, photos)
    seconds = {}
    for way in WAYS[first:] + WAYS[:first]:
        account = make_account(app, "volunteer", "tdp01")
        with app.app_context():
            couch_password = get_user_by_name(account.username).couch_password
        # The gateway takes a session cookie; CouchDB and the pass-through, basic auth.
        access = ({"login": {"username": account.username, "password": account.password}}
                  if way == "gateway" else
                  {"prefix": "", "auth": {"username": account.username,
                                          "password": couch_password}})
        pusher, puller = (Phone(bases[way], account.couch_db, folder / way / name, **access)
                          for name in ("pusher", "puller"))
        _, push = pusher.run(pusher.docs_file(docs), {"op": "push"})
        before = cpu_now(couch_pid)
        (pull,) = puller.run({"op": "pull"})
        cpu = cpu_since(before, couch_pid)
        if not (push["ok"] and pull["ok"] and push["docs_written"] == len(docs)):
            failed = push if not push["ok"] or push["docs_written"] != len(docs) else pull
            print(f"  {way:8} {failed['step']} FAILED after {failed['docs_written']} documents: "
                  f"{failed['errors'][:2]}; round left out", flush=True)
            return None
        seconds[f"push {way}"] = push["seconds"]
        seconds[f"pull {way}"] = pull["seconds"]
        print(f"  {way:8} push {push['seconds']:6.1f} s   pull {pull['seconds']:6.1f} s"
              f"   requests: push {push['requests']}, pull {pull['requests']}", flush=True)
        print(f"{'':11}CPU of the pull: " + cpu_text(cpu, {
            "server": "CouchDB-API server", "children": "phone",
            "Python": "web server (this process)"}), flush=True)
    return seconds


def ingest_against_read(app, couch: CouchServer, couch_pid: int, surveys: int,
                        validator: Validator) -> dict[str, float]:
    """Docs/s of the ingest, of a bare `_changes` read and of a bare read-and-insert
    loop (each page's bodies inserted and committed, nothing else), over one
    database of surveys."""
    account = make_account(app, "volunteer", "tdp02")
    client = couch.client()
    docs = phone_docs(account.username, surveys, 0)
    for start in range(0, len(docs), 500):
        client.bulk_write(account.couch_db, docs[start:start + 500])
    before = cpu_now(couch_pid)
    started = time.perf_counter()
    since, read = None, 0
    while (page := client.changes(account.couch_db, since, PAGE_SIZE)).results:
        read += len(page.results)
        since = page.last_seq
    read_seconds = time.perf_counter() - started
    read_cpu = cpu_since(before, couch_pid)
    with app.app_context():
        before = cpu_now(couch_pid)
        started = time.perf_counter()
        ingested = ingest_dbs(services.couch(), SqlIngestStore(), services.photo_store(),
                              Limits(), [account.couch_db], validator=validator)
        ingest_seconds = time.perf_counter() - started
        ingest_cpu = cpu_since(before, couch_pid)
        started = time.perf_counter()
        since, inserted = None, 0
        while (page := client.changes(account.couch_db, since, PAGE_SIZE)).results:
            insert_rows(SubmissionRevision, [
                {"couch_db": "bare-loop", "doc_id": change["id"], "rev": change["doc"]["_rev"],
                 "body": change["doc"], "received_at": utcnow()} for change in page.results])
            db.session.commit()
            inserted += len(page.results)
            since = page.last_seq
        insert_seconds = time.perf_counter() - started
    assert ingested == read == inserted, (ingested, read, inserted)
    return {"ingest": ingested / ingest_seconds, "read": read / read_seconds,
            "read+insert": inserted / insert_seconds,
            **{f"read cpu {name}": value for name, value in read_cpu.items()},
            **{f"ingest cpu {name}": value for name, value in ingest_cpu.items()},
            "read seconds": read_seconds, "ingest seconds": ingest_seconds}


def rounds_of(measure: Callable[[], dict[str, float]], rounds: int) -> dict[str, list[float]]:
    """`measure()` run `rounds` times (each on a database of its own): the rates of
    each round, side by side, so that each ratio compares rates of one round."""
    runs = [measure() for _ in range(rounds)]
    return {key: [run[key] for run in runs] for key in runs[0]}


def median_ratio(rates: dict[str, list[float]], key: str) -> tuple[float, float, float]:
    """The median, lowest and highest over the rounds of `key`'s rate / the read rate."""
    ratios = sorted(a / b for a, b in zip(rates[key], rates["read"], strict=True))
    return statistics.median(ratios), ratios[0], ratios[-1]


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A PostgreSQL database of the bench's own, dropped afterwards."""
    name = f"sotay_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        yield url.replace("postgresql://", "postgresql+psycopg://")
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sotay_app(couch: CouchServer, url: str, folder: Path, settings: dict | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(make_config(couch, url, folder) | (settings or {}))
    with app.app_context():
        db.create_all()
    initialise(app)
    return app


@contextmanager
def pouchdb_node(folder: Path) -> Iterator[tuple[CouchServer, int]]:
    """PouchDB Server on a free port, and its process id."""
    port = free_port()
    process = embedded.start(ROOT / "node_modules", folder, port)
    try:
        couch = CouchServer(f"http://127.0.0.1:{port}", "admin", secrets.token_hex(8), port)
        couch.client().ensure_admin()
        yield couch, process.pid
    finally:
        embedded.stop(process)


@contextmanager
def couchdb3_node(folder: Path) -> Iterator[tuple[CouchServer, int]]:
    """An Apache CouchDB 3 node from the release beside the project, and its process id."""
    started = subprocess.run([str(COUCHDB3_RELEASE / "start-couchdb"), str(folder),
                              str(free_port()), secrets.token_hex(8)],
                             capture_output=True, text=True, timeout=180, check=True)
    try:
        base, admin, password = split_credentials(started.stdout.strip().splitlines()[-1])
        yield (CouchServer(base, admin, password, urlsplit(base).port or 5984, "couchdb3"),
               int((folder / "couchdb.pid").read_text()))
    finally:
        subprocess.run([str(COUCHDB3_RELEASE / "stop-couchdb"), str(folder)],
                       capture_output=True, timeout=60)


SERVERS = {"PouchDB Server": pouchdb_node, "CouchDB 3": couchdb3_node}


def measure_on(couch: CouchServer, couch_pid: int, folder: Path, url: str,
               args: argparse.Namespace, stack: ExitStack) -> dict:
    """Replication (the three ways) and the ingest (into `url`'s database and SQLite)
    against one CouchDB-API server."""
    settings = {"SYNC_USER_CONCURRENCY": args.user_concurrency,
                "SYNC_CONCURRENCY": 2 * args.user_concurrency} if args.user_concurrency else {}
    app = sotay_app(couch, url, folder / "main", settings)
    servers = {"gateway": serve(app),
               "bare": serve(passthrough_app("127.0.0.1", couch.port))}
    bases = {"direct": couch.base, **{way: f"http://127.0.0.1:{server.effective_port}"
                                      for way, server in servers.items()}}
    print(f"replication of {args.surveys} surveys with {args.photos} photos "
          f"(PouchDB 9, Node, LevelDB)", flush=True)
    rounds = [replication(app, bases, couch, couch_pid, folder / f"replication-{number}",
                          args.surveys, args.photos, first=number % len(WAYS))
              for number in range(args.replication_rounds)]
    replications = [seconds for seconds in rounds if seconds is not None]
    for server in servers.values():
        server.close()
    backend = make_url(url).get_backend_name()
    # As the worker does: cycles collected less often, threads taking
    # turns sooner, validation in a process of its own where there are
    # more than two cores (on SQLite, more than one), started once.
    tune_for_ingest()
    sqlite_app = sotay_app(couch, f"sqlite:///{folder / 'sotay.db'}", folder / "lite")
    rates = {}
    for name, ingest_app in ((backend, app), ("sqlite", sqlite_app)):
        validator = stack.enter_context(closing(validator_for(
            None, sql_in_process=name == "sqlite")))
        validator.warm()
        print(f"ingest into {name}: validation by {type(validator).__name__}", flush=True)
        rates[name] = rounds_of(lambda ingest_app=ingest_app, validator=validator:
                                ingest_against_read(ingest_app, couch, couch_pid,
                                                    args.surveys, validator), args.rounds)
    return {"replications": replications, "failed rounds": len(rounds) - len(replications),
            "rates": rates}


def goal_line(name: str, value: float, target: float) -> str:
    return (f"goal: {name} = {value:.2f} (goal >= {target}) "
            + ("ok" if value >= target else "short"))


def report(kind: str, measured: dict) -> list[str]:
    """Print one server's figures; return its goal lines."""
    goals = []
    print(f"\n{kind}:")
    runs = measured["replications"]
    if measured["failed rounds"]:
        print(f"replication rounds that failed and were left out: {measured['failed rounds']}")
        goals.append(f"goal: failed replication rounds, {kind} = {measured['failed rounds']} "
                     f"of {len(runs) + measured['failed rounds']} (goal == 0) short")
    for direction in ("push", "pull") if runs else ():
        ratios = {way: sorted(run[f"{direction} direct"] / run[f"{direction} {way}"]
                              for run in runs) for way in ("gateway", "bare")}
        gateway, bare = ratios["gateway"], ratios["bare"]
        versus_bare = sorted(run[f"{direction} bare"] / run[f"{direction} gateway"]
                             for run in runs)
        print(f"{direction} through the gateway vs direct: {statistics.median(gateway):.2f} "
              f"(median of {len(gateway)} rounds, {gateway[0]:.2f}-{gateway[-1]:.2f}; "
              f"goal >= {GATEWAY_GOAL}); through a bare pass-through: "
              f"{statistics.median(bare):.2f} ({bare[0]:.2f}-{bare[-1]:.2f}); gateway vs "
              f"the pass-through: {statistics.median(versus_bare):.2f} "
              f"({versus_bare[0]:.2f}-{versus_bare[-1]:.2f})")
        goals.append(goal_line(f"{direction} through the gateway / direct, {kind}",
                               statistics.median(gateway), GATEWAY_GOAL))
        goals.append(goal_line(f"{direction} through the gateway / bare pass-through, {kind}",
                               statistics.median(versus_bare), GATEWAY_VS_BARE_GOAL))
    for database, rate in measured["rates"].items():
        ingest, low, high = median_ratio(rate, "ingest")
        bare, bare_low, bare_high = median_ratio(rate, "read+insert")
        versus_bare = sorted(a / b for a, b in zip(rate["ingest"], rate["read+insert"],
                                                   strict=True))
        print(f"ingest into {database}: {statistics.median(rate['ingest']):.0f} docs/s vs "
              f"_changes read {statistics.median(rate['read']):.0f} docs/s (medians of "
              f"{len(rate['read'])} rounds): {ingest:.2f} ({low:.2f}-{high:.2f}; goal >= "
              f"{INGEST_GOAL}); a bare read-and-insert loop: "
              f"{statistics.median(rate['read+insert']):.0f} docs/s, {bare:.2f} "
              f"({bare_low:.2f}-{bare_high:.2f}); ingest vs that loop: "
              f"{statistics.median(versus_bare):.2f} ({versus_bare[0]:.2f}-"
              f"{versus_bare[-1]:.2f})")
        median = {key: statistics.median(values) for key, values in rate.items()}
        print(f"  CPU seconds (medians) of the read, {median['read seconds']:.2f} s: "
              f"{kind} {median['read cpu server']:.2f}, "
              f"reader {median['read cpu Python']:.2f}; of the ingest, "
              f"{median['ingest seconds']:.2f} s: {kind} "
              f"{median['ingest cpu server']:.2f}, worker "
              f"{median['ingest cpu Python']:.2f}, validation process "
              f"{median['ingest cpu children']:.2f}"
              + (f", PostgreSQL {median['ingest cpu PostgreSQL']:.2f}"
                 if database != "sqlite" else "") + f" ({os.cpu_count()} cores)")
        goals.append(goal_line(f"ingest into {database} / _changes read, {kind}", ingest,
                               INGEST_GOAL))
        goals.append(goal_line(f"ingest into {database} / bare read-and-insert loop, {kind}",
                               statistics.median(versus_bare), INGEST_VS_BARE_GOAL))
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surveys", type=int, default=5000)
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5,
                        help="ingest rounds per SQL database, each ratio taken within a round")
    parser.add_argument("--replication-rounds", type=int, default=6,
                        help="replication rounds (push and pull, each of the three ways), "
                             "each ratio taken within a round; the rounds take turns at which "
                             "way goes first")
    parser.add_argument("--database-url",
                        help="SQLAlchemy URL (default: a scratch PostgreSQL database per "
                             "CouchDB-API server)")
    parser.add_argument("--user-concurrency", type=int,
                        help="the gateway's SYNC_USER_CONCURRENCY, and twice that SYNC_CONCURRENCY "
                             "(default: as shipped, 24 and 48; "
                             "a pull of a few hundred photos then fails, see RESULTS.md)")
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    args = parser.parse_args()
    if args.rounds < 1 or args.replication_rounds < 1:
        parser.error("--rounds and --replication-rounds must be at least 1")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    measured, skipped = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp, ExitStack() as stack:
        for kind in args.servers:
            if kind == "CouchDB 3" and not (COUCHDB3_RELEASE / "start-couchdb").exists():
                skipped.append(f"{kind}: skipped (no {COUCHDB3_RELEASE}/start-couchdb)")
                continue
            folder = Path(tmp) / kind.replace(" ", "-")
            print(f"== {kind}", flush=True)
            url = args.database_url or stack.enter_context(scratch_postgres())
            with SERVERS[kind](folder / "couch") as (couch, pid):
                measured[kind] = measure_on(couch, pid, folder, url, args, stack)
    goals = [line for kind, figures in measured.items() for line in report(kind, figures)]
    print()
    for line in skipped:
        print(line)
    for line in goals:
        print(line)


if __name__ == "__main__":
    main()
