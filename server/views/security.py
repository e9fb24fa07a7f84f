"""What every page and API answer carries, and what no other site may make a browser send.

The Content-Security-Policy allows scripts, styles, fonts and frames from
this origin only, no inline script or style, and no framing by any site;
images may also be `blob:` URLs (the phone shows photos it holds) and
`data:` URLs. Responses are never content-sniffed. The sync gateway, which
answers `/sync/` before Flask, sets its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from server.errors import problem

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    app.before_request(refuse_cross_site)
    app.after_request(_add_headers)


def refuse_cross_site() -> None:
    """Refuse a state-changing request that another site's page made the browser send.

    Browsers say where a request comes from in `Sec-Fetch-Site` (older ones only
    in `Origin`); a request with neither is no browser's cross-site request.
    Pages check their form's token as well; this covers the JSON API too.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise problem("stale_form", reason="cross_site")
        return
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise problem("stale_form", reason="cross_site")


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
