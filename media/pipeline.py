"""Turn the bytes a phone sent into trusted facts and metadata-free derivatives.

`process_photo` is the one entry point. It refuses what it must before doing
any work (size, format by content, embedded markup, pixel bomb), decodes the
image once and only as large as the preview needs (JPEG draft mode lets
libjpeg scale by 1/2, 1/4 or 1/8 while decoding, so a 12-megapixel photo is
never materialised at full size), reads the EXIF facts, turns the picture
upright, and writes a preview and a thumbnail that carry no metadata at all.
Every refusal is a `PhotoRejected` with a stable code and a reason in
Vietnamese and English; nothing a phone or an attacker sends escapes as any
other exception.

Pillow's own bomb guard is a process-wide setting (`Image.MAX_IMAGE_PIXELS`).
Rather than change it, the pipeline opens files through the format plugin of
the format it sniffed, and checks the declared size against the `Limits` of
this call before a single pixel is decoded.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

from PIL import (
    Image,
    ImageCms,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from media import measures
from media.exif import exif_facts
from media.jpeg import Layout, jpeg_layout, missing_coefficients
from media.problems import PhotoRejected
from media.sniff import find_markup, sniff_format, webp_size

__all__ = ["Limits", "PhotoRejected", "ProcessedPhoto", "process_photo"]

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

_OPENERS: dict[str, type[ImageFile.ImageFile]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0


@dataclass(frozen=True)
class Limits:
    """What one call accepts and what it makes. Defaults suit phone photos.

    `max_pixels` (50 MP) admits the full-resolution output of 48 and 50 MP
    phone sensors while refusing decompression bombs; `max_side` refuses
    absurd strips that stay under the pixel count. Only a JPEG of one scan
    (what cameras and the phone app write) is decoded reduced as it is read,
    so only it may come that large: PNG, WebP and progressive or multi-scan
    JPEG are decoded at full size (libjpeg holds a multi-scan file's every
    coefficient), and `max_full_decode_pixels` bounds them: at 8 MP one photo
    takes at most about 150 MB more (WebP; PNG 90, progressive JPEG 130, a
    50 MP one-scan JPEG 33), measured in tests/media/test_photo_memory.py.
    """

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_full_decode_pixels: int = 8_000_000
    max_side: int = 20_000
    max_exif_bytes: int = 256 * 1024
    max_jpeg_scans: int = 64
    preview_side: int = 1600
    thumbnail_side: int = 320
    preview_quality: int = 82
    thumbnail_quality: int = 80


@dataclass(frozen=True)
class ProcessedPhoto:
    """Facts about one accepted photo and its two derivatives (JPEG bytes)."""

    sha256: str
    mime: str
    width: int
    height: int
    exif: dict
    preview: bytes = field(repr=False)
    thumbnail: bytes = field(repr=False)
    phash: str
    crop_hashes: str
    brightness: float
    sharpness: float
    preview_size: tuple[int, int]
    thumbnail_size: tuple[int, int]

    def facts(self) -> dict:
        """Everything but the bytes, as plain JSON-ready data for SQL."""
        return {
            "sha256": self.sha256,
            "mime": self.mime,
            "width": self.width,
            "height": self.height,
            "exif": dict(self.exif),
            "phash": self.phash,
            "crop_hashes": self.crop_hashes,
            "brightness": self.brightness,
            "sharpness": self.sharpness,
            "preview_size": list(self.preview_size),
            "thumbnail_size": list(self.thumbnail_size),
        }


DEFAULT_LIMITS = Limits()  # frozen, so one shared default is safe


def process_photo(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ProcessedPhoto:
    """Check, describe and derive one photo, or raise PhotoRejected."""
    fmt, image, layout = _checked_image(data, limits)
    width, height = image.size
    target = fit(image.size, limits.preview_side)
    _decode(image, target)
    if layout is not None:
        _check_complete(data, image, layout, target)
    exif = exif_facts(image.info.get("exif"), max_bytes=limits.max_exif_bytes)
    icc = image.info.get("icc_profile")
    picture = image if image.mode in ("RGB", "L", "CMYK") else _to_rgb(image)
    picture = _shrink(picture, limits.preview_side, RESAMPLE, REDUCING_GAP)
    picture = to_srgb(picture, icc)
    transpose = _TRANSPOSE.get(exif["orientation"])
    if transpose is not None:
        picture = picture.transpose(transpose)
        if exif["orientation"] >= 5:
            width, height = height, width
    # Smaller pictures come from the preview by integer box reduction and one
    # short bilinear step (reducing_gap=1): several times cheaper than a
    # Lanczos pass from the preview, and ample for 320 px and for measuring.
    thumbnail = _shrink(picture, limits.thumbnail_side, Image.Resampling.BILINEAR, 1.0)
    grey = _shrink(picture.convert("L"), measures.SHARPNESS_SIDE, Image.Resampling.BILINEAR, 1.0)
    thumb_grey = thumbnail.convert("L")
    phash, crop_hashes = measures.perceptual_hashes(thumb_grey)
    return ProcessedPhoto(
        sha256=hashlib.sha256(data).hexdigest(),
        mime=MIME[fmt],
        width=width,
        height=height,
        exif=exif,
        preview=encode_jpeg(picture, limits.preview_quality),
        thumbnail=encode_jpeg(thumbnail, limits.thumbnail_quality),
        phash=phash,
        crop_hashes=crop_hashes,
        brightness=measures.brightness(thumb_grey),
        sharpness=measures.sharpness(grey),
        preview_size=picture.size,
        thumbnail_size=thumbnail.size,
    )


def _checked_image(
    data: bytes, limits: Limits
) -> tuple[str, ImageFile.ImageFile, Layout | None]:
    """The opened (not yet decoded) image, once every check before decoding
    passed, with a JPEG's layout."""
    _check_size(data, limits)
    fmt = sniff_format(data)
    marker = find_markup(data)
    if marker:
        raise PhotoRejected("photo.embedded_markup", {"marker": marker})
    if fmt == "WEBP":
        declared = webp_size(data)
        if declared is None:
            raise PhotoRejected("photo.corrupt", {"reason": "unreadable WebP header"})
        _check_dimensions(*declared, limits)
    image = _open(fmt, data)
    _check_dimensions(*image.size, limits)
    if getattr(image, "n_frames", 1) > 1:
        raise PhotoRejected("photo.animated")
    layout = jpeg_layout(data) if fmt == "JPEG" else None
    if layout is not None:
        _check_scans(layout, limits)
    if layout is None or len(layout.scans) > 1:
        _check_full_decode(fmt, layout, *image.size, limits)
    return fmt, image, layout


def fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size that fits within side×side keeping the aspect ratio (never enlarged)."""
    width, height = size
    longest = max(width, height)
    if longest <= side:
        return size
    scale = side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_jpeg(picture: Image.Image, quality: int) -> bytes:
    """Baseline JPEG with no EXIF, ICC, XMP or comment: only pixels leave."""
    out = io.BytesIO()
    picture.info.clear()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _check_size(data: bytes, limits: Limits) -> None:
    if not data:
        raise PhotoRejected("photo.empty")
    if len(data) > limits.max_bytes:
        raise PhotoRejected("photo.too_large", {"size": len(data), "limit": limits.max_bytes})


def _check_dimensions(width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise PhotoRejected("photo.bad_dimensions", {"width": width, "height": height})
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise PhotoRejected(
            "photo.too_many_pixels",
            {"width": width, "height": height, "limit": limits.max_pixels},
        )


def _check_scans(layout: Layout, limits: Limits) -> None:
    # A progressive JPEG of a few kilobytes can hold thousands of scans and
    # keep libjpeg busy for minutes.
    scans = len(layout.scans)
    if scans > limits.max_jpeg_scans:
        raise PhotoRejected("photo.too_complex", {"scans": scans, "limit": limits.max_jpeg_scans})
    if missing_coefficients(layout):
        raise PhotoRejected("photo.corrupt", {"reason": "scans missing: the file is cut short"})


def _check_full_decode(fmt: str, layout: Layout | None, width: int, height: int,
                       limits: Limits) -> None:
    """Refuse what would be decoded at full size over `max_full_decode_pixels`."""
    if width * height > limits.max_full_decode_pixels:
        kind = fmt if layout is None else "JPEG progressive" if layout.progressive else "JPEG"
        raise PhotoRejected(
            "photo.too_many_pixels_for_format",
            {"width": width, "height": height, "limit": limits.max_full_decode_pixels,
             "format": kind},
        )


def _open(fmt: str, data: bytes) -> ImageFile.ImageFile:
    try:
        return _OPENERS[fmt](io.BytesIO(data))
    except Exception as error:  # Pillow's header parsers raise many types on bad input
        raise _corrupt(error) from error


def _decode(image: ImageFile.ImageFile, target: tuple[int, int]) -> None:
    if image.format == "JPEG" and target != image.size:
        image.draft("RGB", target)  # libjpeg scales by 1/2, 1/4 or 1/8 as it decodes
    try:
        image.load()
    except Exception as error:  # truncated or damaged data, whatever the codec says
        raise _corrupt(error) from error


# Put before the marker that ends the last scan to see whether libjpeg reads it.
_PROBE = bytes(range(0x20, 0xA0)) * 4


def _check_complete(data: bytes, image: ImageFile.ImageFile, layout: Layout,
                    target: tuple[int, int]) -> None:
    """Refuse a JPEG whose last scan is cut short but closed by a marker.

    libjpeg fills whatever an early marker cuts off with zeros and only warns,
    which Pillow drops: a file cut in half and closed with EOI decodes with a
    grey lower half (one scan) or blurred (progressive). Decoding it again
    with bytes put before that marker tells: a complete scan never reads
    them, a cut one does and decodes differently. Cheap where it runs: for a
    one-scan file only when its last pixel is the exact mid-grey those zeros
    give, which a photo's corner almost never is; for a multi-scan file,
    always (they are rare, and at most `max_full_decode_pixels`).
    """
    if len(layout.scans) == 1 and not _mid_grey(image.getpixel((image.width - 1,
                                                                 image.height - 1))):
        return
    end = layout.scans[-1].end
    probed = _open("JPEG", data[:end] + _PROBE + data[end:])
    _decode(probed, target)
    if probed.tobytes() != image.tobytes():
        raise PhotoRejected("photo.corrupt", {"reason": "image data cut short"})


def _mid_grey(pixel: object) -> bool:
    values = pixel if isinstance(pixel, tuple) else (pixel,)
    return len(set(values)) == 1 and values[0] in (127, 128)  # 127: inverted Adobe CMYK


def _corrupt(error: Exception) -> PhotoRejected:
    return PhotoRejected("photo.corrupt", {"reason": f"{type(error).__name__}: {error}"[:200]})


def to_srgb(picture: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit sRGB pixels, through the embedded colour profile when there is one.

    The derivatives carry no profile, so a photo tagged Display P3 (iPhones) or
    a CMYK print profile must be converted, not just stripped, or its colours
    would shift. A profile that is sRGB already, or that LittleCMS cannot read
    or cannot apply to these pixels, leaves a plain conversion.
    """
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "srgb" not in ImageCms.getProfileDescription(profile).lower():
                return ImageCms.profileToProfile(picture, profile, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or mismatched profile is ignored, as browsers do
    return picture if picture.mode == "RGB" else picture.convert("RGB")


def _to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB picture of any accepted mode; transparency over white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        grey = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
        return grey.convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA" or mode == "LA":
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def _shrink(
    picture: Image.Image, side: int, resample: Image.Resampling, reducing_gap: float
) -> Image.Image:
    target = fit(picture.size, side)
    if target == picture.size:
        return picture
    return picture.resize(target, resample, reducing_gap=reducing_gap)
