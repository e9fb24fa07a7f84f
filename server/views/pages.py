"""Pages for reviewers and administrators: log in, the review queue, one survey,
the quarantine, the dashboard and the totals download."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from messages import both
from server.actions import duplicates, exports, indicators, reviews
from server.actions.health import held_list
from server.actions.logins import authenticate
from server.errors import Problem, problem_headers
from server.views.schemas import DecisionSchema, LoginSchema, SettleSchema, load
from server.views.session import check_csrf, csrf_token, current_actor, log_in, log_out

bp = Blueprint("pages", __name__)


STATE_LABELS = {state: both(f"server.review_state.{state}")
                for state in ("pending", "approved", "needs_correction", "rejected")}


@bp.app_template_filter("state_label")
def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


@bp.app_template_filter("local_time")
def local_time(moment: datetime) -> str:
    """A stored UTC time as the ward reads it (SOTAY_TIMEZONE, Vietnam by default)."""
    zone = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Ho_Chi_Minh"))
    return moment.replace(tzinfo=UTC).astimezone(zone).strftime("%d/%m/%Y %H:%M")


@bp.app_context_processor
def _globals() -> dict:
    return {"actor": current_actor(), "csrf_token": csrf_token}


@bp.get("/")
def home() -> Response:
    actor = current_actor()
    if actor is None:
        return redirect(url_for("pages.login"))
    if actor.role == "volunteer":
        return redirect("/app")
    return redirect(url_for("pages.review_queue"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        try:
            check_csrf(request.form.get("csrf"))
            data = load(LoginSchema(), request.form)
            log_in(authenticate(data["username"], data["password"], request.remote_addr or ""))
            return redirect(_local_target(request.args.get("next")) or url_for("pages.home"))
        except Problem as err:
            error = err
    if error is None:
        return render_template("login.html", error=None)
    return render_template("login.html", error=error), error.status, problem_headers(error)


def _local_target(target: str | None) -> str | None:
    """`next` only when it stays on this site (no scheme, no host, no `//`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@bp.post("/logout")
def logout() -> Response:
    check_csrf(request.form.get("csrf"))
    log_out()
    return redirect(url_for("pages.login"))


def _login_or(view):
    """Send people who are not logged in to the login page instead of an error page."""
    if current_actor() is None:
        return redirect(url_for("pages.login", next=request.full_path))
    return view()


@bp.get("/review")
def review_queue():
    return _login_or(lambda: render_template(
        "review_queue.html", items=reviews.review_queue(current_actor())))


@bp.get("/review/<int:submission_id>")
def review_detail(submission_id: int):
    return _login_or(lambda: render_template(
        "review_detail.html", s=reviews.submission_detail(current_actor(), submission_id)))


@bp.post("/review/<int:submission_id>")
def review_decide(submission_id: int) -> Response:
    data = load(DecisionSchema(), request.form)
    check_csrf(data["csrf"])
    reviews.decide(current_actor(), submission_id, data["decision"], data["comment"],
                   data["rev"])
    return redirect(url_for("pages.review_queue"))


@bp.get("/review/quarantine")
def quarantine():
    return _login_or(lambda: render_template(
        "quarantine.html", items=reviews.quarantine_list(current_actor()), held=held_list()))


@bp.get("/review/duplicates")
def duplicate_pairs():
    return _login_or(lambda: render_template(
        "duplicates.html", pairs=duplicates.duplicate_list(current_actor())))


@bp.post("/review/duplicates/<int:pair_id>")
def settle_duplicate(pair_id: int) -> Response:
    data = load(SettleSchema(), request.form)
    check_csrf(data["csrf"])
    duplicates.settle(current_actor(), pair_id, data["settlement"])
    return redirect(url_for("pages.duplicate_pairs"))


@bp.get("/dashboard")
def dashboard():
    return _login_or(lambda: render_template(
        "dashboard.html", table=indicators.indicator_table(
            indicators.campaign_indicators(current_actor()))))


@bp.get("/dashboard/totals.csv")
def totals_csv() -> Response:
    rows = indicators.campaign_indicators(current_actor())
    response = Response(exports.totals_csv(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="sotay-totals.csv"'
    return response
