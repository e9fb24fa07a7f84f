"""Bench of logins (issue 19, B7 and F20), over real HTTP to the app under waitress
with the settings `sotay serve` uses, on SQLite.

1. A wrong password for a known account against an unknown username: median
   time of each, alternating; their ratio should be 1 (goal: within 0.9-1.1),
   so the answer's time does not tell which names exist.
2. Fifty logins sent at once, with password hashes bounded as configured
   (`SOTAY_LOGIN_HASHES_AT_ONCE`, 2) and, side by side, unbounded (as before
   the bound): the web process's growth in peak memory (read from the
   kernel, /proc/self/clear_refs and VmHWM) and the slowest login. Goal:
   growth within (hashes at once + 1) x 32 MiB.

Run: .venv/bin/python bench/bench_login.py
"""

from __future__ import annotations

import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.actions.auth import CLI_ACTOR  # noqa: E402
from server.actions.users import create_user  # noqa: E402
from server.app import create_app  # noqa: E402
from server.cli import WAITRESS_OPTIONS  # noqa: E402
from server.models import db  # noqa: E402
from tests.conftest import free_port  # noqa: E402

ROUNDS = 15
AT_ONCE = 50
MIB = 1024 * 1024
HASH_MIB = 32


def make_app(folder: Path, hashes_at_once: int):
    return create_app({
        "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'sotay.db'}",
        "COUCHDB_URL": "http://admin:x@127.0.0.1:9", "COUCHDB_EMBEDDED": False,
        "MEDIA_ROOT": str(folder / "media"), "INSTANCE": str(folder),
        "NODE_MODULES": str(ROOT / "node_modules"),
        # Limits out of the way: this measures the hashing, not the refusals.
        "LOGIN_FAILURES_PER_ACCOUNT": 10**6, "LOGIN_FAILURES_PER_ADDRESS": 10**6,
        "LOGIN_HASHES_AT_ONCE": hashes_at_once,
    })


def serve(app):
    from waitress.server import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a queue is the point here
    server = create_server(app, host="127.0.0.1", port=free_port(), **WAITRESS_OPTIONS)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def log_in(port: int, username: str, password: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", "/api/session", json.dumps({"username": username,
                                                     "password": password}),
                 {"Content-Type": "application/json"})
    reply = conn.getresponse()
    reply.read()
    took = time.perf_counter() - started
    conn.close()
    return reply.status, took


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def timing(port: int) -> tuple[float, float]:
    known, unknown = [], []
    log_in(port, "nobody", "warm-up")
    for _ in range(ROUNDS):
        known.append(log_in(port, "reviewer1", "wrong password")[1])
        unknown.append(log_in(port, "nobody-at-all", "wrong password")[1])
    return statistics.median(known), statistics.median(unknown)


def burst(port: int) -> tuple[float, float, list[int]]:
    """Peak memory growth (MiB) and the slowest of AT_ONCE simultaneous logins (s)."""
    start = threading.Barrier(AT_ONCE)

    def one(n: int) -> tuple[int, float]:
        start.wait()
        return log_in(port, f"nobody{n}", "wrong password")

    with ThreadPoolExecutor(AT_ONCE) as pool:
        list(pool.map(lambda _: None, range(AT_ONCE)))
        Path("/proc/self/clear_refs").write_text("5")
        before = memory_kib("VmRSS")
        results = list(pool.map(one, range(AT_ONCE)))
        peak = memory_kib("VmHWM")
    return (peak - before) / 1024, max(t for _, t in results), sorted({s for s, _ in results})


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, at_once in (("bounded", 2), ("unbounded", AT_ONCE)):
            folder = Path(tmp) / label
            folder.mkdir()
            app = make_app(folder, at_once)
            with app.app_context():
                create_user(CLI_ACTOR, "reviewer1", "right password 1", "reviewer")
                db.session.commit()
            server = serve(app)
            port = server.effective_port
            if label == "bounded":
                figures["timing"] = timing(port)
            figures[label] = burst(port)
            server.close()
            with app.app_context():
                db.engine.dispose()

    known, unknown = figures["timing"]
    ratio = unknown / known
    print(f"Wrong password, median of {ROUNDS} each, alternating")
    print(f"  known account   {known * 1000:6.1f} ms")
    print(f"  unknown name    {unknown * 1000:6.1f} ms   unknown/known {ratio:.2f}")
    print(f"\n{AT_ONCE} logins at once over HTTP (waitress, {WAITRESS_OPTIONS['threads']} threads)")
    for label in ("bounded", "unbounded"):
        grown, slowest, statuses = figures[label]
        print(f"  {label:9s} peak memory +{grown:6.0f} MiB   slowest login {slowest:5.2f} s   "
              f"statuses {statuses}")
    bounded, unbounded = figures["bounded"][0], figures["unbounded"][0]
    print(f"  bounded/unbounded memory {bounded / unbounded:.2f}")
    limit = (2 + 1) * HASH_MIB
    print(f"goal: unknown/known login time = {ratio:.2f} (goal 0.9-1.1) "
          f"{'ok' if 0.9 <= ratio <= 1.1 else 'short'}")
    print(f"goal: peak memory of {AT_ONCE} logins at once = {bounded:.0f} MiB "
          f"(goal <= {limit}) {'ok' if bounded <= limit else 'short'}")


if __name__ == "__main__":
    main()
