"""Bench of replication clients other than PouchDB (issue 20): Apache CouchDB 3's
own replicator against PouchDB's, through the same deployment, on the same
documents, in one run.

The stack is the documented one (tests/deploy/stack.py): nginx with the
shipped `deploy/nginx/sotay.conf` (TLS) in front of `sotay serve` (waitress)
in front of a CouchDB 3 node holding the volunteers' databases. Each round:

- pull: a volunteer's database of N surveys and M photos, written straight
  into CouchDB, is pulled through the stack by CouchDB 3's replicator (a
  second CouchDB 3 node, `_replicate` into a new local database) and by
  PouchDB 9 in Node (LevelDB, tests/sync/node/replicate.js, the replicator a
  phone runs, in batches of 20 as the app pulls), each with the volunteer's
  session cookie;
- push: the same documents, in a local database of each, are pushed through
  the stack into a fresh volunteer database each.

Each client is timed from the start of its replication to its end (CouchDB:
the `_replicate` call, with the node's random wait before a job starts,
`[replicator] startup_jitter`, set to 0; PouchDB: the replicate step, Node's
start and the loading of its local database aside). Rounds take turns at which client goes
first. Ratio = CouchDB 3 seconds / PouchDB seconds, pull and push added, the
median over rounds; goal <= 1.3.

Needs ../shared/couchdb (Apache CouchDB 3.4.3) and Debian's nginx; SQL on a
SQLite file (the gateway reads SQL only to know who a session is).

Run: .venv/bin/python bench/bench_replicator.py [--surveys 300] [--photos 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.app import create_app  # noqa: E402
from server.cli import initialise  # noqa: E402
from server.models import db  # noqa: E402
from tests.conftest import (  # noqa: E402
    COUCHDB3_RELEASE,
    CouchServer,
    couchdb3_node,
    make_account,
    make_config,
)
from tests.deploy.stack import (  # noqa: E402
    log_in,
    nginx_binary,
    nginx_in_front,
    replicate,
    sotay_serve,
    through_gateway,
)
from tests.sync.phone import Phone, phone_docs  # noqa: E402

GOAL = 1.3
# As the phone app pulls (server/static/app/js/sync.js). PouchDB fetches a batch's
# photos all at once; past SOTAY_SYNC_USER_CONCURRENCY (24) the gateway answers
# 503 and PouchDB ends a one-shot replication.
PHONE_PULL_BATCH = 20


def admin(server: CouchServer, method: str, path: str, body: dict | str | None = None) -> dict:
    reply = requests.request(method, f"{server.base}/{path}", json=body, timeout=300,
                             auth=(server.admin, server.password))
    assert reply.status_code < 300, (path, reply.text[:300])
    return reply.json()


def couchdb3_round(app, upstream: CouchServer, node: CouchServer, proxy, docs: list[dict]
                   ) -> dict[str, float]:
    pulled = make_account(app, "volunteer", "tdp01")
    admin(upstream, "POST", f"{pulled.couch_db}/_bulk_docs", {"docs": docs})
    cookie = log_in(proxy, pulled.username, pulled.password)
    target = f"pull-{secrets.token_hex(4)}"
    pull, pull_seconds = replicate(node, through_gateway(proxy.url, pulled.couch_db, cookie),
                                   f"{node.url}/{target}")
    pushed = make_account(app, "volunteer", "tdp02")
    source = f"push-{secrets.token_hex(4)}"
    admin(node, "PUT", source)
    admin(node, "POST", f"{source}/_bulk_docs", {"docs": docs})
    cookie = log_in(proxy, pushed.username, pushed.password)
    push, push_seconds = replicate(node, f"{node.url}/{source}",
                                   through_gateway(proxy.url, pushed.couch_db, cookie))
    for result in (pull, push):
        history = result["history"][0]
        assert history["doc_write_failures"] == 0, history
        assert history["docs_written"] == len(docs), history
    return {"pull": pull_seconds, "push": push_seconds}


def pouchdb_round(app, upstream: CouchServer, proxy, docs: list[dict], folder: Path
                  ) -> dict[str, float]:
    pulled = make_account(app, "volunteer", "tdp01")
    admin(upstream, "POST", f"{pulled.couch_db}/_bulk_docs", {"docs": docs})
    login = {"username": pulled.username, "password": pulled.password}
    (pull,) = Phone(proxy.url, pulled.couch_db, folder / "puller", login=login).run(
        {"op": "pull", "batch_size": PHONE_PULL_BATCH})
    pushed = make_account(app, "volunteer", "tdp02")
    pusher = Phone(proxy.url, pushed.couch_db, folder / "pusher",
                   login={"username": pushed.username, "password": pushed.password})
    _, push = pusher.run(pusher.docs_file(docs), {"op": "push"})
    for result in (pull, push):
        assert result["ok"] and result["docs_written"] == len(docs), result
    return {"pull": pull["seconds"], "push": push["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surveys", type=int, default=300)
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (COUCHDB3_RELEASE / "start-couchdb").exists() or nginx_binary() is None:
        print(f"skipped: needs Apache CouchDB 3 at {COUCHDB3_RELEASE} and nginx "
              "(scripts/system-deps installs it)")
        return
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-replicator-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        upstream, node = (stack.enter_context(couchdb3_node(f"bench-{name}"))
                          for name in ("upstream", "replicator"))
        # CouchDB waits a random 0-5 s before it starts each replication job
        # ([replicator] startup_jitter, against a stampede when a node with many
        # replications starts): not the replication's time, so none here.
        admin(node, "PUT", "_node/_local/_config/replicator/startup_jitter", "0")
        database_url = f"sqlite:///{folder / 'sotay.db'}"
        app = create_app(make_config(upstream, database_url, folder))
        with app.app_context():
            db.create_all()
        initialise(app)
        port = stack.enter_context(sotay_serve(upstream, database_url, folder,
                                               app.config["SECRET_KEY"]))
        proxy = stack.enter_context(nginx_in_front(port))
        os.environ["NODE_EXTRA_CA_CERTS"] = proxy.cafile  # the phone trusts the proxy's TLS
        docs = phone_docs("bench", args.surveys, args.photos)
        print(f"{len(docs)} documents ({args.surveys} surveys, {args.photos} photos), "
              f"pull and push through nginx -> sotay serve -> CouchDB 3.4.3", flush=True)
        rounds = []
        for number in range(args.rounds):
            clients = {"couchdb3": lambda: couchdb3_round(app, upstream, node, proxy, docs),
                       "pouchdb": lambda number=number: pouchdb_round(
                           app, upstream, proxy, docs, folder / f"phone-{number}")}
            order = list(clients) if number % 2 == 0 else list(reversed(clients))
            seconds = {name: clients[name]() for name in order}
            rounds.append(seconds)
            print(f"  round {number + 1}: " + "   ".join(
                f"{name} pull {seconds[name]['pull']:5.2f} s push {seconds[name]['push']:5.2f} s"
                for name in clients), flush=True)
    print()
    for direction in ("pull", "push"):
        ratio = statistics.median(run["couchdb3"][direction] / run["pouchdb"][direction]
                                  for run in rounds)
        print(f"{direction}: couchdb3 replicator / pouchdb time = {ratio:.2f} (median of "
              f"{len(rounds)})")
    ratio = statistics.median(sum(run["couchdb3"].values()) / sum(run["pouchdb"].values())
                              for run in rounds)
    print(f"goal: couchdb3 replicator / pouchdb time = {ratio:.2f} (goal <= {GOAL}) "
          f"{'ok' if ratio <= GOAL else 'short'}")


if __name__ == "__main__":
    main()
