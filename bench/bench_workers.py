"""Bench of several ingest workers (issue 20, item 7): the same volunteer databases
ingested by 1, 2 and 3 `sotay worker` processes sharing one PostgreSQL database
through the ingest's queue, side by side in one run.

Each round makes `--volunteers` databases of `--surveys` documents each
(surveys of every kind, drafts made final, a few photos), straight in a
PouchDB Server of the bench's own, then for each number of workers (in turn,
the order rotating between rounds) a fresh PostgreSQL database with the same
accounts and forms, starts that many workers, waits until all are up and
idle, marks every database as written to (as the gateway does) and times
them until every database is read to its end. Ratio = throughput with N
workers / with 1, the median over rounds.

On two cores the workers share them with PouchDB Server (Node, one thread)
and PostgreSQL: the ratio shows where the machine, not the design, stops
adding speed. The CPU each part used is printed beside the times.

Run: .venv/bin/python bench/bench_workers.py [--volunteers 60] [--surveys 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_sync import _processes, cpu_now, cpu_text  # noqa: E402
from server.app import create_app  # noqa: E402
from server.cli import initialise  # noqa: E402
from server.models import (  # noqa: E402
    Checkpoint,
    DbActivity,
    IngestWorker,
    WorkerTurn,
    db,
    utcnow,
)
from tests.conftest import PG_ADMIN_URL, make_account, make_config, pouchdb_server  # noqa: E402
from tests.sync.test_crash import volunteer_corpus  # noqa: E402

COPIED_TABLES = ("users", "form_versions")
GOAL_TWO = 1.0  # two workers at least as fast as one: sharing costs less than it gives


def database(name: str) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") \
        + f"/{name}"


def drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def caught_up(engine, couch, dbs: list[str]) -> bool:
    with engine.connect() as conn:
        seqs = {row.couch_db: row.seq["seq"] for row in conn.execute(
            select(Checkpoint.couch_db, Checkpoint.seq))}
        pending = conn.execute(select(func.count()).select_from(DbActivity).where(
            DbActivity.touches > DbActivity.read_touches)).scalar_one()
    return pending == 0 and len(seqs) == len(dbs) and all(
        not couch.changes(name, seqs[name], 1).results for name in dbs)


def run_workers(count: int, url: str, couch_url: str, folder: Path, dbs: list[str],
                couch, couch_pid: int) -> tuple[float, dict]:
    """Seconds `count` workers take to read every database, from the moment they
    are told of the news (all started and idle) to the last checkpoint."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOTAY_INSTANCE": str(folder),
           "SOTAY_DATABASE_URL": url, "SOTAY_COUCHDB_URL": couch_url,
           "SOTAY_MEDIA_ROOT": str(folder / "media"), "SOTAY_INGEST_POLL_SECONDS": "0.2",
           "SOTAY_INGEST_SWEEP_SECONDS": "3600",
           "SOTAY_NODE_MODULES": str(ROOT / "node_modules")}
    engine = create_engine(url)
    workers = [subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(count)]
    try:
        deadline = time.monotonic() + 120
        while True:  # every worker started and idle: the timing is the ingest's alone
            with engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(IngestWorker)).scalar_one() \
                        == count:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{count} worker(s) did not start in 2 minutes")
            time.sleep(0.1)
        before = cpu_now(couch_pid)
        started = time.monotonic()
        with engine.begin() as conn:  # what the gateway's marks do on a phone's write
            conn.execute(insert(DbActivity), [{"couch_db": name, "touched_at": utcnow(),
                                               "pending_since": utcnow(), "touches": 1,
                                               "read_touches": 0, "claimed_touches": 0}
                                              for name in dbs])
        while not caught_up(engine, couch, dbs):
            if time.monotonic() - started > 900:
                raise SystemExit(f"{count} worker(s) did not catch up in 15 minutes")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        after = cpu_now(couch_pid)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
        engine.dispose()
    return seconds, {name: after[name] - before[name] for name in before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=60)
    parser.add_argument("--surveys", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    counts = (1, 2, 3)
    rates: dict[int, list[float]] = {count: [] for count in counts}
    print(f"{os.cpu_count()} cores; {args.volunteers} volunteer databases x {args.surveys} "
          f"documents per round")
    with tempfile.TemporaryDirectory() as tmp, pouchdb_server(Path(tmp) / "couch") as couch:
        client = couch.client()
        couch_pid = next(pid for pid, parent, name in _processes()
                         if parent == os.getpid() and "node" in name)
        for round_ in range(args.rounds):
            source = f"sotay_bench_workers_{secrets.token_hex(4)}"
            url = database(source)
            try:
                app = create_app(make_config(couch, url, Path(tmp) / f"r{round_}"))
                with app.app_context():
                    db.create_all()
                initialise(app)
                rng = random.Random(round_)
                dbs = []
                for n in range(args.volunteers):
                    account = make_account(app, "volunteer", f"tdp{n % 12 + 1:02d}")
                    docs, _drafts = volunteer_corpus(account.username, args.surveys, rng)
                    client.bulk_write(account.couch_db, docs)
                    dbs.append(account.couch_db)
                with app.app_context():
                    copied = {name: [dict(row) for row in db.session.execute(
                        db.metadata.tables[name].select()).mappings()]
                        for name in COPIED_TABLES}
                    db.session.remove()
                    db.engine.dispose()
                order = counts[round_ % 3:] + counts[:round_ % 3]
                for count in order:
                    name = f"{source}_{count}"
                    target = database(name)
                    try:
                        engine = create_engine(target)
                        db.metadata.create_all(engine)
                        with engine.begin() as conn:
                            for table, rows in copied.items():
                                conn.execute(insert(db.metadata.tables[table]), rows)
                            # Swept just now: the workers start idle, told of the news
                            # only once all are up.
                            conn.execute(insert(WorkerTurn), [{"name": "sweep",
                                                               "at": utcnow()}])
                        engine.dispose()
                        seconds, cpu = run_workers(count, target, couch.url,
                                                   Path(tmp) / f"w{round_}-{count}", dbs,
                                                   client, couch_pid)
                    finally:
                        drop(name)
                    documents = args.volunteers * args.surveys
                    rates[count].append(documents / seconds)
                    print(f"round {round_ + 1}: {count} worker(s): {seconds:.1f} s, "
                          f"{documents / seconds:.0f} docs/s; CPU "
                          + cpu_text(cpu, {"children": "workers",
                                           "PouchDB Server": "PouchDB Server"}))
            finally:
                drop(source)
    median = {count: statistics.median(rates[count]) for count in counts}
    for count in counts:
        print(f"{count} worker(s): median {median[count]:.0f} docs/s, "
              f"ratio to one {median[count] / median[1]:.2f}")
    ratio_two = median[2] / median[1]
    ratio_three = median[3] / median[1]
    print(f"goal: 3 workers / 1 worker throughput = {ratio_three:.2f} (goal >= {GOAL_TWO}) "
          f"{'ok' if ratio_three >= GOAL_TWO else 'short'}")
    print(f"goal: 2 workers / 1 worker throughput = {ratio_two:.2f} (goal >= {GOAL_TWO}) "
          f"{'ok' if ratio_two >= GOAL_TWO else 'short'}")


if __name__ == "__main__":
    main()
