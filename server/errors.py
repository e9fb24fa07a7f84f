"""The one catalogue of errors Sotay shows to people.

Each problem has a stable code (HTTP status, a dot, a number, as in ODK
Central), a Vietnamese and an English sentence. The API and the sync gateway
answer `{"error": {"code", "vi", "en", "detail"}}`; pages show both sentences.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError

from server.models import db

log = logging.getLogger(__name__)


@dataclass
class Problem(Exception):
    code: str
    vi: str
    en: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return int(self.code.split(".")[0])

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "vi": self.vi, "en": self.en}
        if self.detail:
            body["detail"] = self.detail
        return body


_CATALOGUE: dict[str, tuple[str, str, str]] = {
    "invalid_input": ("400.1", "Dữ liệu gửi lên không hợp lệ.", "The data sent is not valid."),
    "sync_bad_request": ("400.2", "Yêu cầu đồng bộ không đúng giao thức sao chép nên bị từ chối; "
                                  "hãy cập nhật ứng dụng.",
                         "This sync request is not part of the replication protocol and was "
                         "refused; update the app."),
    "bad_credentials": ("401.1", "Sai tên đăng nhập hoặc mật khẩu.",
                        "Wrong username or password."),
    "login_required": ("401.2", "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.",
                       "Your session has expired, please log in again."),
    "forbidden": ("403.1", "Bạn không có quyền làm việc này.",
                  "You are not allowed to do this."),
    "sync_forbidden": ("403.2", "Chỉ được đồng bộ cơ sở dữ liệu của chính bạn.",
                       "You may only sync your own database."),
    "forms_read_only": ("403.3", "Biểu mẫu chỉ được đọc, không được ghi.",
                        "Forms are read-only."),
    "account_inactive": ("403.4", "Tài khoản đã bị khóa.", "This account is deactivated."),
    "stale_form": ("403.5", "Trang này đã cũ hoặc yêu cầu đến từ trang web khác; hãy tải "
                            "lại trang rồi thử lại.",
                   "This page is out of date or the request came from another site; reload "
                   "the page and try again."),
    "not_found": ("404.1", "Không tìm thấy.", "Not found."),
    "method_not_allowed": ("405.1", "Không hỗ trợ phương thức này.",
                           "This method is not allowed here."),
    "user_exists": ("409.1", "Tên đăng nhập đã tồn tại.", "This username is taken."),
    "form_version_exists": ("409.2",
                            "Phiên bản biểu mẫu này đã phát hành với nội dung khác; "
                            "hãy tăng số phiên bản.",
                            "This form version is already published with other content; "
                            "publish a new version."),
    "review_stale": ("409.3", "Khảo sát đã thay đổi từ khi bạn mở; hãy xem lại.",
                     "The survey changed since you opened it; please look again."),
    "sync_too_large": ("413.1", "Dữ liệu gửi lên quá lớn (tối đa {limit} byte).",
                       "The data sent is too large (at most {limit} bytes)."),
    "sync_unsupported_body": ("415.1", "Chỉ nhận dữ liệu JSON ở đây.",
                              "Only JSON bodies are accepted here."),
    "too_many_logins": ("429.1", "Đăng nhập sai quá nhiều lần. Hãy đợi rồi thử lại; nếu quên "
                                 "mật khẩu, hãy liên hệ cán bộ phường.",
                        "Too many failed logins. Wait, then try again; if you forgot the "
                        "password, ask the ward office."),
    "couch_unavailable": ("503.1", "Máy chủ đồng bộ không phản hồi.",
                          "The sync server is not answering."),
    "database_unavailable": ("503.2", "Cơ sở dữ liệu của máy chủ tạm thời không truy cập "
                                      "được; hãy thử lại sau ít phút.",
                             "The server's database cannot be reached right now; try again "
                             "in a few minutes."),
    "couch_unreachable": ("503.6", "Không kết nối được CouchDB tại {url} ({said}); hãy kiểm tra "
                                   "SOTAY_COUCHDB_URL và CouchDB có đang chạy.",
                          "Cannot reach CouchDB at {url} ({said}); check SOTAY_COUCHDB_URL and "
                          "that CouchDB is running."),
    "couch_failed": ("502.1", "CouchDB tại {url} trả lời lỗi {said}; hãy xem nhật ký của CouchDB.",
                     "CouchDB at {url} answered {said}; see CouchDB's log."),
    "sync_busy": ("503.3", "Điện thoại đang gửi quá nhiều yêu cầu cùng lúc; hãy thử lại sau "
                           "giây lát.",
                  "Too many sync requests at once from this account; try again in a moment."),
    "sync_db_isolated": ("503.4", "Dữ liệu của bạn trên máy chủ đang được kiểm tra sau một lỗi; "
                                  "dữ liệu trên điện thoại vẫn an toàn. Hãy báo văn phòng.",
                         "Your data on the server is held for a check after an error; the "
                         "data on your phone is safe. Please tell the office."),
    "login_busy": ("503.5", "Máy chủ đang bận xử lý nhiều lượt đăng nhập; hãy thử lại sau ít "
                            "giây.",
                   "The server is busy with many logins; try again in a few seconds."),
    "schema_newer": ("500.1", "Cơ sở dữ liệu ở phiên bản lược đồ {revision}, mới hơn bản Sotay "
                              "này biết ({head}); hãy cài bản Sotay mới hơn hoặc khôi phục bản "
                              "sao lưu.",
                     "The database is at schema revision {revision}, newer than this Sotay "
                     "knows ({head}); install the newer Sotay or restore a backup."),
    "schema_unrecognised": ("500.2", "Cơ sở dữ liệu thiếu cột {missing} mà không thể tự thêm; "
                                     "hãy kiểm tra hoặc khôi phục bản sao lưu.",
                            "The database lacks column(s) {missing}, which cannot be added on "
                            "their own; check it or restore a backup."),
}

# SQL errors that say the database cannot be reached, not that a statement is wrong.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def problem(key: str, **detail: Any) -> Problem:
    code, vi, en = _CATALOGUE[key]
    if "{" in vi:  # a sentence that names a figure of the detail, e.g. a size limit
        vi, en = vi.format_map(detail), en.format_map(detail)
    return Problem(code, vi, en, detail)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/sync/", "/healthz")) or (
        request.accept_mimetypes.best == "application/json")


def _render(err: Problem) -> Response:
    if _wants_json():
        response = jsonify(error=err.as_dict())
    else:
        response = Response(render_template("error.html", error=err), mimetype="text/html")
    response.status_code = err.status
    response.headers.update(problem_headers(err))
    return response


def problem_headers(err: Problem) -> dict[str, str]:
    """HTTP headers that go with a problem's answer (when to try again)."""
    seconds = err.detail.get("retry_after_seconds")
    return {} if seconds is None else {"Retry-After": str(seconds)}


def _database_unavailable(err: Exception) -> Response:
    log.warning("database unavailable: %s", str(err).splitlines()[0][:300])
    db.session.rollback()
    return _render(problem("database_unavailable"))


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, _render)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, _database_unavailable)
    app.register_error_handler(404, lambda _e: _render(problem("not_found")))
