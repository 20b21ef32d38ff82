"""Uploaded images: refuse pixel floods, strip metadata (location included), make previews.

Every image is decoded and encoded again from its pixels with a fresh, empty `info`, so
EXIF (GPS), XMP, IPTC, comments and text chunks cannot survive; only the colour profile
and what animation needs (frame durations, loop) are carried over. The orientation tag is
applied to the pixels first, so a phone photo still stands the right way up.

HEIC is decoded with pillow-heif and kept as JPEG: browsers other than Safari cannot show
HEIC, and a JPEG is what the preview and the download both need.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageOps, ImageSequence

from health_app.services.files.file_types import GIF, HEIC, JPEG, PNG, WEBP, FileKind

try:  # pillow-heif ships libheif in its wheel; without it HEIC uploads are refused.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIC_SUPPORTED = True
except ImportError:  # pragma: no cover - the package is a declared dependency
    HEIC_SUPPORTED = False

THUMBNAIL_PX = 320
PHOTO_PX = 512
_FORMATS = {JPEG.key: "JPEG", PNG.key: "PNG", GIF.key: "GIF", WEBP.key: "WEBP", HEIC.key: "HEIF"}
# Only these keys of the decoder's `info` survive re-encoding.
_KEEP_INFO = ("icc_profile", "transparency", "duration", "loop", "background", "disposal")


class ImageRejected(Exception):
    """Not a usable image (broken, a pixel flood, or an unsupported flavour)."""


@dataclass(frozen=True)
class CleanImage:
    kind: FileKind  # what is stored: the same kind, or JPEG for HEIC
    data: bytes
    thumbnail: bytes  # small JPEG
    width: int
    height: int


def _open_checked(src: IO[bytes], kind: FileKind, max_pixels: int) -> Image.Image:
    """Open lazily and check dimensions before any pixel is decoded."""
    if kind.key not in _FORMATS or (kind is HEIC and not HEIC_SUPPORTED):
        raise ImageRejected("unsupported image type")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(src, formats=[_FORMATS[kind.key]])
            width, height = im.size
            frames = getattr(im, "n_frames", 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too many pixels") from exc
    except Exception as exc:  # Pillow raises many types for broken files
        raise ImageRejected("not a readable image") from exc
    if width <= 0 or height <= 0:
        raise ImageRejected("not a readable image")
    # Animated images: every frame gets decoded, so the budget is for all of them.
    if width * height * frames > max_pixels:
        raise ImageRejected("too many pixels")
    return im


def _clean_frame(frame: Image.Image) -> Image.Image:
    copy = frame.copy()
    copy.info = {k: frame.info[k] for k in _KEEP_INFO if k in frame.info}
    return copy


def _thumbnail(im: Image.Image, size: int, quality: int) -> bytes:
    frame = im.copy()
    if frame.mode in ("RGBA", "LA", "P", "PA"):
        frame = frame.convert("RGBA")
        background = Image.new("RGB", frame.size, "white")
        background.paste(frame, mask=frame.getchannel("A"))
        frame = background
    elif frame.mode != "RGB":
        frame = frame.convert("RGB")
    frame.thumbnail((size, size))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def clean_image(src: IO[bytes], kind: FileKind, *, max_pixels: int) -> CleanImage:
    """Decode, check and re-encode an uploaded image without its metadata."""
    im = _open_checked(src, kind, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            out = io.BytesIO()
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and kind in (GIF, WEBP):
                sequence = [_clean_frame(f) for f in ImageSequence.Iterator(im)]
                first = sequence[0]
                first.save(
                    out,
                    _FORMATS[kind.key],
                    save_all=True,
                    append_images=sequence[1:],
                    duration=[f.info.get("duration", 100) for f in sequence],
                    loop=im.info.get("loop", 0),
                    **({"quality": 90} if kind is WEBP else {}),
                )
                stored, preview = kind, first
            else:
                im.load()
                upright = _clean_frame(ImageOps.exif_transpose(im))
                stored = JPEG if kind is HEIC else kind
                params: dict[str, object] = {}
                if "icc_profile" in upright.info:
                    params["icc_profile"] = upright.info["icc_profile"]
                if stored is JPEG:
                    if upright.mode not in ("RGB", "L", "CMYK"):
                        upright = upright.convert("RGB")
                    params.update(quality=90, optimize=True)
                elif stored is WEBP:
                    params.update(quality=90)
                elif stored is PNG:
                    params.update(optimize=False)
                upright.save(out, _FORMATS[stored.key], **params)
                preview = upright
            thumbnail = _thumbnail(preview, THUMBNAIL_PX, 80)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too many pixels") from exc
    except Exception as exc:
        raise ImageRejected("not a readable image") from exc
    return CleanImage(stored, out.getvalue(), thumbnail, preview.width, preview.height)


def profile_photo(src: IO[bytes], kind: FileKind, *, max_pixels: int) -> bytes:
    """A doctor's photo: upright, at most PHOTO_PX on its longer side, JPEG, no metadata."""
    im = _open_checked(src, kind, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
            return _thumbnail(_clean_frame(ImageOps.exif_transpose(im)), PHOTO_PX, 88)
    except Exception as exc:
        raise ImageRejected("not a readable image") from exc
