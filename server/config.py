"""Configuration: defaults, environment variables and the instance folder.

Everything a deployment sets comes from `SOTAY_*` environment variables; the
instance folder keeps what Sotay generates for itself on first start (the
secret key and the embedded CouchDB's admin credential) so a second start
reuses them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync.ingest import PAGE_SIZE

DEFAULT_COUCH_PORT = 5984
# Settings a test configuration may leave out (`create_app` fills them in).
DEFAULTS: dict[str, Any] = {
    "SESSION_HOURS": 24 * 14,
    # The largest request body the sync gateway takes: a `_bulk_docs` of the
    # phone's five documents with their downscaled photos is a few megabytes.
    "SYNC_MAX_BODY_BYTES": 32 * 1024 * 1024,
    # Requests one volunteer, and all volunteers together, may have in the
    # gateway at once: below the web server's threads, so pages and /healthz
    # keep some (WAITRESS_THREADS in server/cli.py).
    "SYNC_USER_CONCURRENCY": 24,
    "SYNC_CONCURRENCY": 48,
}
COUCH_ADMIN = "sotay_admin"


def instance_path() -> Path:
    return Path(os.environ.get("SOTAY_INSTANCE", "instance")).resolve()


def _load_secrets(folder: Path) -> dict[str, str]:
    """Read the instance's generated secrets, creating them on first use."""
    path = folder / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    values = {"secret_key": secrets.token_hex(32), "couch_password": secrets.token_urlsafe(24)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values))
    tmp.chmod(0o600)
    tmp.replace(path)
    return values


def embedded_couch_dir(config: dict[str, Any]) -> Path:
    """Where the embedded PouchDB Server keeps its data, log and process id."""
    return Path(config["INSTANCE"]) / "couch"


def embedded_couch_url(folder: Path, port: int) -> str:
    password = _load_secrets(folder)["couch_password"]
    return f"http://{COUCH_ADMIN}:{password}@127.0.0.1:{port}"


def build_config(folder: Path | None = None) -> dict[str, Any]:
    folder = folder or instance_path()
    generated = _load_secrets(folder)
    couch_port = int(os.environ.get("SOTAY_COUCHDB_PORT", DEFAULT_COUCH_PORT))
    return {
        "SECRET_KEY": os.environ.get("SOTAY_SECRET_KEY", generated["secret_key"]),
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "SOTAY_DATABASE_URL", f"sqlite:///{folder / 'sotay.db'}"),
        "COUCHDB_URL": os.environ.get("SOTAY_COUCHDB_URL") or embedded_couch_url(
            folder, couch_port),
        "COUCHDB_EMBEDDED": not os.environ.get("SOTAY_COUCHDB_URL"),
        "COUCHDB_PORT": couch_port,
        "MEDIA_ROOT": os.environ.get("SOTAY_MEDIA_ROOT", str(folder / "media")),
        **login_settings(os.environ),
        "PHOTO_MAX_BYTES": int(os.environ.get("SOTAY_PHOTO_MAX_BYTES", 15 * 1024 * 1024)),
        "SESSION_HOURS": int(os.environ.get("SOTAY_SESSION_HOURS", 24 * 14)),
        "INGEST_POLL_SECONDS": float(os.environ.get("SOTAY_INGEST_POLL_SECONDS", 1.0)),
        "INGEST_SWEEP_SECONDS": float(os.environ.get("SOTAY_INGEST_SWEEP_SECONDS", 300)),
        "INGEST_PAGE_SIZE": int(os.environ.get("SOTAY_INGEST_PAGE_SIZE", PAGE_SIZE)),
        # How long a dead worker's volunteer databases wait before another takes them.
        "INGEST_LEASE_SECONDS": float(os.environ.get("SOTAY_INGEST_LEASE_SECONDS", 60)),
        # 1: the worker validates surveys in a process of its own; 0: in its own
        # process; unset: 1 where the machine has more than two cores (SQLite: one).
        "INGEST_VALIDATION_PROCESSES": _optional_int(
            os.environ.get("SOTAY_INGEST_VALIDATION_PROCESSES")),
        "TIMEZONE": os.environ.get("SOTAY_TIMEZONE", "Asia/Ho_Chi_Minh"),
        "PHASES": parse_phases(os.environ.get("SOTAY_PHASES", "")),
        "NODE_MODULES": os.environ.get("SOTAY_NODE_MODULES", str(Path("node_modules").resolve())),
        "INSTANCE": str(folder),
        "SYNC_MAX_BODY_BYTES": int(os.environ.get("SOTAY_SYNC_MAX_BODY_BYTES",
                                                  DEFAULTS["SYNC_MAX_BODY_BYTES"])),
        "SYNC_USER_CONCURRENCY": int(os.environ.get("SOTAY_SYNC_USER_CONCURRENCY",
                                                    DEFAULTS["SYNC_USER_CONCURRENCY"])),
        "SYNC_CONCURRENCY": int(os.environ.get("SOTAY_SYNC_CONCURRENCY",
                                               DEFAULTS["SYNC_CONCURRENCY"])),
    }


# What a deployment may set about logins and cookies, with the defaults that hold
# when it sets nothing (also for apps built from a test configuration).
LOGIN_DEFAULTS: dict[str, Any] = {
    # Wrong passwords allowed in LOGIN_WINDOW_MINUTES, per account name and per
    # address; a ward office or training hall shares one address, hence more.
    "LOGIN_FAILURES_PER_ACCOUNT": 10,
    "LOGIN_FAILURES_PER_ADDRESS": 50,
    "LOGIN_WINDOW_MINUTES": 15,
    # Password hashes (32 MiB each) one web process computes at once.
    "LOGIN_HASHES_AT_ONCE": 2,
    # Behind a TLS-terminating proxy: the session cookie only travels over HTTPS.
    "SECURE_COOKIES": False,
    # Proxies in front whose X-Forwarded-For/-Proto/-Host are believed (0: none).
    "TRUSTED_PROXIES": 0,
}


def login_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """LOGIN_DEFAULTS, each overridden by its `SOTAY_` variable where set."""
    settings = {}
    for key, default in LOGIN_DEFAULTS.items():
        text = environ.get(f"SOTAY_{key}", "")
        if text == "":
            settings[key] = default
        elif isinstance(default, bool):
            settings[key] = text.strip().lower() in ("1", "true", "yes", "on")
        else:
            settings[key] = int(text)
    return settings


def _optional_int(text: str | None) -> int | None:
    return int(text) if text not in (None, "") else None


def parse_phases(text: str) -> list[tuple[str, str]]:
    """`SOTAY_PHASES="1:2025-05-14,2:2027-07-01"` → [(name, first day)]; the ward sets them."""
    phases = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, first_day = item.partition(":")
        phases.append((name.strip(), first_day.strip()))
    return phases
