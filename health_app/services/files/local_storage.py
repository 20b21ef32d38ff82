"""Blob storage in local folders, for one machine (`make run`, tests, a single server).

Private files are served only by our own route (health_app/http_files.py) through an
HMAC-signed, short-lived token; public assets are plain files under their own route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from health_app.services.files.storage import (
    MAX_LINK_SECONDS,
    READ_CHUNK,
    BlobIntegrityError,
    BlobNotFound,
    BlobWriter,
    LinkClaims,
    LinkInvalid,
    SignedLink,
    Storage,
    StorageError,
    check_blob_name,
)

_INCOMING = ".incoming"
_SECRET_FILE = ".link-secret"  # noqa: S105 (a file name, not a secret)


class _LocalWriter(BlobWriter):
    def __init__(self, final: Path, incoming: Path) -> None:
        super().__init__()
        incoming.mkdir(parents=True, exist_ok=True)
        self._final = final
        self._part = incoming / f"{secrets.token_hex(16)}.part"
        # O_EXCL: never write through a file (or link) someone else put there.
        fd = os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "wb")

    def _write(self, data: bytes) -> None:
        self._file.write(data)

    def _commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._final.parent.mkdir(parents=True, exist_ok=True)
        if self._final.exists():
            self._part.unlink(missing_ok=True)
            raise StorageError("blob already exists")
        os.replace(self._part, self._final)

    def _abort(self) -> None:
        self._file.close()
        self._part.unlink(missing_ok=True)


class LocalStorage(Storage):
    """Private files under `private_dir` (outside Reflex's public upload folder), public
    assets under `public_dir`; private links point at our own signed-link route."""

    kind = "local"
    PRIVATE_ROUTE = "/_files/private/"
    PUBLIC_ROUTE = "/_files/public/"

    def __init__(
        self,
        private_dir: str | Path,
        public_dir: str | Path,
        *,
        secret: str = "",
        base_url: str = "",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.private_dir = Path(private_dir).resolve()
        self.public_dir = Path(public_dir).resolve()
        # Relative links by default: the app serves frontend and backend on one origin.
        self.base_url = base_url.rstrip("/")
        # Folders and the generated key come with first use: constructing touches nothing.
        self._secret = secret.encode()
        self._secret_lock = threading.Lock()

    def _key(self) -> bytes:
        if not self._secret:
            with self._secret_lock:
                if not self._secret:
                    self._secret = self._stored_secret().encode()
        return self._secret

    def _private_root(self) -> None:
        """The patient files' folder, for its owner only (0700), also when it existed."""
        self.private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.private_dir.stat().st_mode & 0o077:
            self.private_dir.chmod(0o700)

    def _stored_secret(self) -> str:
        """A random key kept beside the files, shared by every process on this disk."""
        self._private_root()
        path = self.private_dir / _SECRET_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):  # another process may be writing it this instant
                value = path.read_text().strip()
                if value:
                    return value
                time.sleep(0.01)
            raise StorageError(f"{path} is empty") from None
        value = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return value

    def _path(self, blob: str, public: bool) -> Path:
        root = self.public_dir if public else self.private_dir
        path = (root / check_blob_name(blob)).resolve()
        if root not in path.parents:
            raise StorageError("invalid blob name")
        return path

    def writer(self, blob: str, *, content_type: str, public: bool = False) -> BlobWriter:
        root = self.public_dir if public else self.private_dir
        if public:
            root.mkdir(parents=True, exist_ok=True, mode=0o755)
        else:
            self._private_root()
        return _LocalWriter(self._path(blob, public), root / _INCOMING)

    def read_chunks(self, blob: str, *, public: bool = False) -> Iterator[bytes]:
        try:
            f = self._path(blob, public).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(blob) from exc
        return _file_chunks(f)

    def open_verified(self, blob: str, sha256: str) -> tuple[BinaryIO, int]:
        """An open file positioned at 0 whose content matched `sha256` just now.

        Hashing and serving use the same open file, so a rename in between cannot swap it.
        """
        try:
            f = self._path(blob, False).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(blob) from exc
        digest, size = hashlib.sha256(), 0
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if not hmac.compare_digest(digest.hexdigest(), sha256):
            f.close()
            raise BlobIntegrityError(f"SHA-256 mismatch for blob {blob}")
        f.seek(0)
        return f, size

    def delete(self, blob: str, *, public: bool = False) -> bool:
        try:
            self._path(blob, public).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, blob: str, *, public: bool = False) -> bool:
        return self._path(blob, public).is_file()

    def check(self) -> None:
        """Both folders exist (made if missing) and this process can write there."""
        self._private_root()
        self.public_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.private_dir, self.public_dir):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StorageError(f"{folder} is not writable")

    def public_url(self, blob: str) -> str:
        return f"{self.base_url}{self.PUBLIC_ROUTE}{check_blob_name(blob)}"

    # Links: base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part)).

    def private_link(
        self,
        blob: str,
        *,
        filename: str,
        content_type: str,
        inline: bool,
        sha256: str,
        seconds: int = MAX_LINK_SECONDS,
        holder: int | None = None,
        client_ip: str = "",
    ) -> SignedLink:
        expires = self._expiry(seconds)
        claims: dict[str, object] = {
            "b": check_blob_name(blob),
            "e": int(expires.timestamp()),
            "n": filename,
            "t": content_type,
            "i": inline,
            "h": sha256,
        }
        if holder is not None:
            claims["s"] = holder  # our route serves it to that session's cookie only
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=True).encode())
        token = f"{body}.{_b64(self._sign(body))}"
        return SignedLink(f"{self.base_url}{self.PRIVATE_ROUTE}{token}", expires)

    def check_link(self, token: str) -> LinkClaims:
        """The claims of a link we signed that has not expired; LinkInvalid otherwise."""
        body, _, sig = token.partition(".")
        try:
            given = _unb64(sig)
            claims = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LinkInvalid("malformed link") from exc
        if not hmac.compare_digest(given, self._sign(body)):
            raise LinkInvalid("bad signature")
        try:
            result = LinkClaims(
                blob=check_blob_name(str(claims["b"])),
                expires_at=int(claims["e"]),
                filename=str(claims["n"]),
                content_type=str(claims["t"]),
                inline=bool(claims["i"]),
                sha256=str(claims["h"]),
                holder=int(claims["s"]) if "s" in claims else None,
            )
        except (KeyError, TypeError, ValueError, StorageError) as exc:
            raise LinkInvalid("malformed link") from exc
        if self._clock().timestamp() >= result.expires_at:
            raise LinkInvalid("expired")
        return result

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key(), b"health-app file link\n" + body.encode(), "sha256").digest()

    def sweep_incomplete(self, older_than: timedelta) -> int:
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for root in (self.private_dir, self.public_dir):
            for part in (root / _INCOMING).glob("*.part"):
                try:
                    if part.stat().st_mtime < cutoff:
                        part.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def _file_chunks(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(READ_CHUNK):
            yield chunk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 4096:
        raise ValueError("bad base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
