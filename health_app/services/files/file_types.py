"""What an uploaded file really is, decided from its bytes; and a safe name to keep for it.

Pure functions and small streaming checkers: no storage, no database. The name and the
browser's content type are never trusted: a renamed executable is refused, a PNG called
`scan.jpg` is kept as `scan.png`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

HEAD_BYTES = 64  # enough for every signature below (ftyp brands included)
NAME_MAX = 150  # characters kept of a file name (extension included)


@dataclass(frozen=True)
class FileKind:
    key: str
    content_type: str
    extensions: tuple[str, ...]  # the first is the canonical one
    group: str  # "image" | "pdf" | "document" | "video": icon and preview choice
    is_image: bool = False

    @property
    def previewable(self) -> bool:
        """Shown inline in the browser (images and PDF); everything else downloads."""
        return self.group in {"image", "pdf"}


JPEG = FileKind("jpeg", "image/jpeg", ("jpg", "jpeg", "jpe", "jfif"), "image", True)
PNG = FileKind("png", "image/png", ("png",), "image", True)
GIF = FileKind("gif", "image/gif", ("gif",), "image", True)
WEBP = FileKind("webp", "image/webp", ("webp",), "image", True)
HEIC = FileKind("heic", "image/heic", ("heic", "heif", "hif"), "image", True)
PDF = FileKind("pdf", "application/pdf", ("pdf",), "pdf")
DOCX = FileKind(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ("docx",),
    "document",
)
MP4 = FileKind("mp4", "video/mp4", ("mp4", "m4v"), "video")
MOV = FileKind("mov", "video/quicktime", ("mov", "qt"), "video")
KINDS = (JPEG, PNG, GIF, WEBP, HEIC, PDF, DOCX, MP4, MOV)
BY_CONTENT_TYPE = {k.content_type: k for k in KINDS}
_ALL_EXTENSIONS = frozenset(e for k in KINDS for e in k.extensions)

ALLOWED_DESCRIPTION = "JPEG, PNG, GIF, WebP, HEIC, PDF, Word (.docx), MP4 or MOV"

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"dash",
}
# Old QuickTime files start with one of these atoms instead of `ftyp`.
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide"}


def _ftyp_brands(head: bytes) -> tuple[bytes, set[bytes]]:
    """Major brand and all brands of an ISO base media `ftyp` box at offset 0."""
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    brands = {major}
    end = min(len(head), box_size if box_size >= 16 else 16)
    for i in range(16, end - 3, 4):
        brands.add(head[i : i + 4])
    return major, brands


def sniff(head: bytes) -> FileKind | None:
    """The allowed kind these first bytes belong to, or None (refused).

    DOCX is only a candidate here (any ZIP matches): `ZipEntryScanner` confirms it.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return DOCX
    if head[4:8] == b"ftyp" and len(head) >= 12:
        major, brands = _ftyp_brands(head)
        if brands & _HEIC_BRANDS:
            return HEIC
        if major == b"qt  ":
            return MOV
        if brands & _MP4_BRANDS:
            return MP4
        return None  # AVIF, 3GP, JPEG 2000 and friends: not on the list
    if head[4:8] in _QUICKTIME_ATOMS and int.from_bytes(head[0:4], "big") >= 8:
        return MOV
    return None


class ZipEntryScanner:
    """Streams a ZIP and confirms it is a Word document (not macro-enabled).

    Reads the names in local file headers as the bytes go by (memory: a few hundred
    bytes), so a DOCX is checked without holding it or decompressing anything.
    """

    _SIG = b"PK\x03\x04"
    _KEEP = 30 + 300  # a header and a name of up to 300 bytes can straddle two chunks

    def __init__(self) -> None:
        self._carry = b""
        self.content_types = False
        self.word_part = False
        self.macros = False
        self.tail = b""

    def _scan(self, buf: bytes, limit: int) -> None:
        """Read headers starting before `limit` in buf."""
        i = buf.find(self._SIG)
        while 0 <= i < limit:
            if i + 30 <= len(buf):
                n = int.from_bytes(buf[i + 26 : i + 28], "little")
                if i + 30 + n <= len(buf):
                    self._saw(buf[i + 30 : i + 30 + n])
            i = buf.find(self._SIG, i + 4)

    def _saw(self, name: bytes) -> None:
        if name == b"[Content_Types].xml":
            self.content_types = True
        elif name.startswith(b"word/") and name.endswith(b".xml"):
            self.word_part = True
        if name.endswith(b"vbaProject.bin"):
            self.macros = True

    def feed(self, data: bytes) -> None:
        if self._carry:
            # Headers that began in the previous chunk's tail.
            junction = self._carry + data[: self._KEEP]
            self._scan(junction, len(self._carry))
        # Headers wholly in this chunk; ones cut off at its end are read next time.
        self._scan(data, len(data))
        self._carry = (
            (self._carry + data)[-self._KEEP :] if len(data) < self._KEEP else data[-self._KEEP :]
        )
        self.tail = self._carry

    def is_docx(self) -> bool:
        # The end-of-central-directory record must be near the end (short comments only).
        return (
            self.content_types
            and self.word_part
            and not self.macros
            and b"PK\x05\x06" in self.tail[-300:]
        )


class TailKeeper:
    """The last few bytes of a stream (PDF end marker check)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.tail = b""

    def feed(self, data: bytes) -> None:
        if len(data) >= self.size:
            self.tail = data[-self.size :]
        else:
            self.tail = (self.tail + data)[-self.size :]


def pdf_looks_complete(tail: bytes) -> bool:
    return b"%%EOF" in tail


def safe_name(raw: str, max_len: int = NAME_MAX) -> str:
    """The last path segment of a client-sent name, without control or bidi characters,
    whitespace collapsed, at most max_len characters ("file" if nothing is left)."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    # Cc: control characters; Cf: format characters (RTL override used to fake extensions);
    # Cs/Co/Cn: surrogates, private use, unassigned.
    name = "".join(
        ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
    )
    name = " ".join(name.split()).strip(" .")
    return name[:max_len].strip(" .") or "file"


def clean_file_name(raw: str, kind: FileKind) -> str:
    """The name to store: `safe_name`, with an extension that matches the content (a known
    but wrong one is replaced, an unknown one kept: "notes.exe" -> "notes.exe.pdf")."""
    name = safe_name(raw, max_len=10 * NAME_MAX)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if ext.lower() in kind.extensions:
        ext_out = ext
    else:
        if ext.lower() not in _ALL_EXTENSIONS:
            stem = name
        ext_out = kind.extensions[0]
    stem = stem[: NAME_MAX - len(ext_out) - 1].strip(" .") or "file"
    return f"{stem}.{ext_out}"
