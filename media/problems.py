"""The catalogue of reasons a photo is refused, in Vietnamese and English.

Every refusal the pipeline raises comes from here, with a stable code that the
server stores with the quarantined original and shows on the review screens.
"""

from __future__ import annotations

PROBLEMS: dict[str, tuple[str, str]] = {
    "photo.empty": (
        "Tệp ảnh rỗng (0 byte).",
        "The photo file is empty (0 bytes).",
    ),
    "photo.too_large": (
        "Tệp ảnh quá lớn ({size} byte, tối đa {limit} byte).",
        "The photo file is too large ({size} bytes, at most {limit} bytes).",
    ),
    "photo.not_an_image": (
        "Tệp không phải là ảnh mà là {kind_vi}.",
        "The file is not a photo but {kind_en}.",
    ),
    "photo.unknown_format": (
        "Không nhận ra định dạng ảnh. Chỉ nhận JPEG, PNG hoặc WebP.",
        "Unrecognised image format. Only JPEG, PNG and WebP are accepted.",
    ),
    "photo.format_refused": (
        "Định dạng {format} không được nhận. Chỉ nhận JPEG, PNG hoặc WebP.",
        "The {format} format is not accepted. Only JPEG, PNG and WebP are accepted.",
    ),
    "photo.animated": (
        "Ảnh động không được nhận làm ảnh minh chứng.",
        "Animated images are not accepted as evidence photos.",
    ),
    "photo.embedded_markup": (
        "Tệp ảnh có chứa mã trang web hoặc mã lệnh ({marker}); không nhận.",
        "The image file carries web page or script code ({marker}); refused.",
    ),
    "photo.too_many_pixels": (
        "Ảnh quá nhiều điểm ảnh ({width}×{height}, tối đa {limit} điểm ảnh).",
        "The image has too many pixels ({width}×{height}, at most {limit} pixels).",
    ),
    "photo.too_many_pixels_for_format": (
        "Ảnh {format} quá nhiều điểm ảnh ({width}×{height}, tối đa {limit} điểm ảnh với định "
        "dạng này). Hãy gửi ảnh chụp từ ứng dụng hoặc ảnh JPEG thường.",
        "The {format} image has too many pixels ({width}×{height}, at most {limit} pixels "
        "in this format). Send the photo from the app, or as a plain JPEG.",
    ),
    "photo.bad_dimensions": (
        "Kích thước ảnh không hợp lệ ({width}×{height}).",
        "The image dimensions are not valid ({width}×{height}).",
    ),
    "photo.too_complex": (
        "Ảnh JPEG có quá nhiều lượt quét ({scans}, tối đa {limit}).",
        "The JPEG has too many scans ({scans}, at most {limit}).",
    ),
    "photo.corrupt": (
        "Ảnh bị hỏng hoặc không đầy đủ, không giải mã được.",
        "The image is damaged or incomplete and cannot be decoded.",
    ),
}


KINDS: dict[str, tuple[str, str]] = {
    "html": ("một trang web (HTML)", "a web page (HTML)"),
    "svg": ("một hình vẽ SVG", "an SVG drawing"),
    "php": ("mã lệnh PHP", "PHP code"),
    "xml": ("một tài liệu XML", "an XML document"),
    "script": ("một tệp mã lệnh", "a script"),
    "pdf": ("một tài liệu PDF", "a PDF document"),
    "text": ("một tệp văn bản", "a text file"),
}


class PhotoRejected(Exception):
    """A photo the pipeline refuses, with a stable code and a reason in vi and en."""

    def __init__(self, code: str, detail: dict | None = None) -> None:
        vi, en = PROBLEMS[code]
        self.code = code
        self.detail = dict(detail or {})
        names = dict(self.detail)
        if "kind" in names:
            names["kind_vi"], names["kind_en"] = KINDS[names["kind"]]
        self.vi = vi.format(**names)
        self.en = en.format(**names)
        super().__init__(f"{code}: {self.en}")

    def as_dict(self) -> dict:
        return {"code": self.code, "vi": self.vi, "en": self.en, "detail": self.detail}

    def __reduce__(self):
        # Rebuilt from code and detail, so a refusal crosses process pools intact.
        return type(self), (self.code, self.detail)
