"""Decide what a file is from its first bytes, never from its name.

Phones and attackers both send files whose name lies. The pipeline asks this
module which of the accepted formats (JPEG, PNG, WebP) the bytes really are,
and refuses everything else with a reason a volunteer can act on: a GIF or a
TIFF is named as such, a web page or script named `.jpg` is named for what it
is. `find_markup` catches polyglots, image files that also carry HTML, SVG or
PHP a browser or a misconfigured server might one day run.
"""

from __future__ import annotations

import re

from media.problems import PhotoRejected

_REFUSED_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"qoif", "QOI"),
)

_FTYP_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
    b"isom": "MP4/MOV video",
    b"mp41": "MP4/MOV video",
    b"mp42": "MP4/MOV video",
    b"qt  ": "MP4/MOV video",
    b"3gp4": "MP4/MOV video",
}

# Markup a browser or PHP would act on. Each pattern is six or more fixed bytes
# (a tag name plus the character that must follow it), so random image data
# holds one by chance about once in a hundred thousand 4 MB photos; a hit is
# almost always deliberate. A refused photo is quarantined, not lost.
_MARKUP = re.compile(
    rb"<(?:\?php\s|script[\s>]|html[\s>]|body[\s>]|iframe[\s>]|object[\s>]|embed[\s>]"
    rb"|!doctype\s+html|svg[^>]{0,200}xmlns)",
    re.IGNORECASE,
)

_TEXT_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"<?php", "php"),
    (b"<svg", "svg"),
    (b"<!doctype html", "html"),
    (b"<html", "html"),
    (b"<head", "html"),
    (b"<body", "html"),
    (b"<script", "html"),
    (b"<?xml", "xml"),
    (b"#!", "script"),
)


def sniff_format(data: bytes) -> str:
    """Return "JPEG", "PNG" or "WEBP" for accepted data, else raise PhotoRejected."""
    if not data:
        raise PhotoRejected("photo.empty")
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    refused = _refused_image_format(data)
    if refused:
        raise PhotoRejected("photo.format_refused", {"format": refused})
    kind = _text_kind(data)
    if kind:
        raise PhotoRejected("photo.not_an_image", {"kind": kind})
    raise PhotoRejected("photo.unknown_format")


def webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares, or None if the header is unreadable.

    libwebp allocates the whole canvas as soon as a decoder is created, that
    is while Pillow merely opens the file, so the size must be known first.
    """
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return _le(data[24:27]) + 1, _le(data[27:30]) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return _le(data[26:28]) & 0x3FFF, _le(data[28:30]) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = _le(data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def find_markup(data: bytes) -> str | None:
    """The first web page or script marker inside the data, if any."""
    found = _MARKUP.search(data)
    if not found:
        return None
    return found.group(0).decode("latin-1").lower().split()[0].rstrip(">")[:24]


def _refused_image_format(data: bytes) -> str | None:
    for magic, name in _REFUSED_IMAGE_MAGIC:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12], "ISO media")
    return None


def _text_kind(data: bytes) -> str | None:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n\x00").lower()
    if head.startswith(b"%pdf"):
        return "pdf"
    if head.startswith(b"<?xml") and b"<svg" in data[:4096].lower():
        return "svg"
    for prefix, kind in _TEXT_KINDS:
        if head.startswith(prefix):
            return kind
    if head.startswith(b"<"):
        return "html"
    if head and all(b in _PRINTABLE for b in head[:256]):
        return "text"
    return None


_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
