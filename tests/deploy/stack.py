"""The documented deployment, started for a test or a bench: `sotay serve` (waitress)
behind nginx, configured by the shipped `deploy/nginx/sotay.conf`, with TLS.

nginx is Debian's (scripts/system-deps installs it). It runs as an ordinary
user, never root (as `nobody` when the tests run as root), from a temporary
prefix, on free ports; the shipped file is used as it is, only its ports and
certificate paths replaced. CouchDB 3's replicator is driven through
`_replicate`, as an administrator would start a replication.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import ROOT, CouchServer, free_port

SITE = ROOT / "deploy" / "nginx" / "sotay.conf"
NOBODY = 65534
# What the test's own nginx.conf adds around the shipped site: everything a
# non-root nginx needs to write in its prefix, and a log of each request's
# connection, so that a test can count how often connections were reused.
MAIN_CONF = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format replication '$connection $connection_requests $status $request_method $uri '
                           '$msec $request_time';
    access_log {prefix}/access.log replication;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/sotay.conf;
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None)


def site_conf(https_port: int, http_port: int, web_port: int, tls_dir: Path) -> str:
    """The shipped site file with this run's ports and certificate folder."""
    text = SITE.read_text()
    for token, value in (("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
                         ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                         ("server 127.0.0.1:5000;", f"server 127.0.0.1:{web_port};"),
                         ("/etc/ssl/sotay/", f"{tls_dir}/")):
        assert text.count(token) >= 1, f"{SITE} no longer has {token!r}"
        text = text.replace(token, value)
    return text


@dataclass
class Nginx:
    url: str  # https://127.0.0.1:PORT
    prefix: Path

    @property
    def cafile(self) -> str:
        """Its self-signed certificate, for clients that check it."""
        return str(self.prefix / "tls" / "fullchain.pem")

    def access_log(self) -> list[list[str]]:
        """Each request so far: connection number, its request count on that
        connection, status, method, path."""
        log = self.prefix / "access.log"
        return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


@contextmanager
def nginx_in_front(web_port: int) -> Iterator[Nginx]:
    """nginx with the shipped site, proxying to 127.0.0.1:`web_port`, until the end."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (scripts/system-deps installs it)")
    prefix = Path(tempfile.mkdtemp(prefix="sotay-nginx-"))
    process = None
    try:
        tls = prefix / "tls"
        tls.mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(tls / "privkey.pem"), "-out", str(tls / "fullchain.pem")],
                       check=True, capture_output=True, timeout=60)
        https_port = free_port()
        (prefix / "sotay.conf").write_text(site_conf(https_port, free_port(), web_port, tls))
        (prefix / "nginx.conf").write_text(MAIN_CONF.format(prefix=prefix))
        as_user = {}
        if os.geteuid() == 0:  # never run nginx as root: the prefix becomes nobody's
            for path in [prefix, *prefix.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
            as_user = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                    "-e", str(prefix / "error.log")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   **as_user)  # what it says goes to error.log (-e)
        url = f"https://127.0.0.1:{https_port}"
        wait_until_up(url + "/healthz", process, prefix / "error.log")
        yield Nginx(url, prefix)
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(prefix, ignore_errors=True)


@contextmanager
def sotay_serve(couch: CouchServer, database_url: str, folder: Path,
                secret_key: str) -> Iterator[int]:
    """`sotay serve` as an administrator runs it behind one proxy; yields its port."""
    port = free_port()
    env = {**os.environ, "SOTAY_INSTANCE": str(folder), "SOTAY_SECRET_KEY": secret_key,
           "SOTAY_DATABASE_URL": database_url, "SOTAY_COUCHDB_URL": couch.url,
           "SOTAY_TRUSTED_PROXIES": "1", "SOTAY_SECURE_COOKIES": "1",
           "SOTAY_MEDIA_ROOT": str(folder / "media"),
           "SOTAY_NODE_MODULES": str(ROOT / "node_modules")}
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve",
                                "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process, folder / "serve.log")
        yield port
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (nginx and waitress finish what they are sending), SIGKILL after 15 s."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    """Wait for `url` to answer while `process` runs; its log's end if it dies."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{process.args[0]} exited {process.returncode}: {said}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except urllib.error.HTTPError:
            return  # it answers (/healthz is 503 while something it checks is not ok)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def log_in(proxy: Nginx, username: str, password: str) -> str:
    """The session cookie (`name=value`) of a login over the proxy's HTTPS."""
    reply = requests.post(f"{proxy.url}/api/session", json={"username": username,
                                                            "password": password},
                          verify=proxy.cafile, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.cookies, "no session cookie"
    cookie = next(iter(reply.cookies))
    assert cookie.secure, "SOTAY_SECURE_COOKIES=1 did not mark the session cookie Secure"
    return f"{cookie.name}={cookie.value}"


def replicate(replicator: CouchServer, source: dict | str, target: dict | str,
              timeout: float = 600) -> tuple[dict, float]:
    """One `_replicate` on the CouchDB 3 node `replicator`; its reply and seconds.
    A target given by URL alone (a database on a CouchDB) is created if missing;
    the gateway's never is (the volunteer's database exists, and creating
    databases is no phone's business)."""
    started = time.monotonic()
    reply = requests.post(f"{replicator.base}/_replicate", auth=(replicator.admin,
                                                                 replicator.password),
                          json={"source": source, "target": target,
                                "create_target": isinstance(target, str)},
                          timeout=timeout)
    seconds = time.monotonic() - started
    assert reply.status_code == 200, reply.text[:2000]
    return reply.json(), seconds


def through_gateway(base_url: str, couch_db: str, cookie: str) -> dict:
    """A replication endpoint: the volunteer's database behind the gateway."""
    return {"url": f"{base_url}/sync/{couch_db}", "headers": {"Cookie": cookie}}
