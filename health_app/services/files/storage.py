"""Blob storage for files: a local folder or Azure Blob Storage, chosen by settings.

Two areas per backend: a private one for patient files (never served directly; only
through a short-lived link issued after an authorization check) and a public one for
public assets such as doctor photos.

Writes stream: a `BlobWriter` takes chunks and holds at most one block in memory
(Azure: staged blocks committed at the end; local: a `.part` file renamed at the end), so
a blob is visible under its name only once complete. Reads can be checked against the
SHA-256 recorded at upload: a mismatch raises `BlobIntegrityError` and nothing is served.

Short-lived links:
- Azure: a read-only SAS for one blob, lifetime <= 5 minutes, with the download name,
  content type and `Cache-Control: no-store` set on the response.
- Local: an HMAC-signed token for our own route (health_app/http_files.py), which checks
  the signature and expiry again and re-checks the SHA-256 before sending a byte.

Blob names are generated here (`new_blob_name`) and validated on every call, so nothing
a client sends ever becomes part of a path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from health_app.config import Settings

MAX_LINK_SECONDS = 300  # the ceiling for any private link
READ_CHUNK = 256 * 1024
_BLOB_NAME = re.compile(r"^[a-z0-9]+(?:[/_-][a-z0-9]+)*(?:\.[a-z0-9]{1,5})?$")


# A blob name no file ever has: the readiness check asks whether it exists.
HEALTH_PROBE = "health-probe"


class StorageError(Exception):
    """The storage backend failed or refused; not the user's fault."""


class BlobNotFound(StorageError):
    pass


class BlobIntegrityError(StorageError):
    """The stored bytes do not match the SHA-256 recorded at upload."""


class LinkInvalid(Exception):
    """A local download link that is tampered, malformed or expired (answer 403)."""


def new_blob_name(prefix: str = "", suffix: str = "") -> str:
    """A random, unguessable blob name, sharded by its first two hex digits."""
    token = secrets.token_hex(16)
    return f"{prefix}{token[:2]}/{token}{suffix}"


def check_blob_name(blob: str) -> str:
    """Refuse anything that is not a name we could have generated (no dots, no `..`)."""
    if len(blob) > 100 or not _BLOB_NAME.match(blob):
        raise StorageError("invalid blob name")
    return blob


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266 header: an ASCII fallback plus the exact name as RFC 5987 `filename*`."""
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in filename
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class SignedLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkClaims:
    """What a local link grants: one blob, until `expires_at`, served as described."""

    blob: str
    expires_at: int  # unix seconds
    filename: str
    content_type: str
    inline: bool
    sha256: str
    holder: int | None = None  # the login session the link was issued to


class BlobWriter(ABC):
    """One blob being written: `write` chunks, then `commit` (or `abort`).

    Tracks size and SHA-256 of what was written, so callers need not hash twice.
    Use as a context manager: leaving the block without `commit` aborts.
    """

    def __init__(self) -> None:
        self.size = 0
        self._hash = hashlib.sha256()
        self._done = False

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        if self._done:
            raise StorageError("writer already closed")
        if not data:
            return
        self._hash.update(data)
        self.size += len(data)
        self._write(data)

    def commit(self) -> None:
        if self._done:
            raise StorageError("writer already closed")
        self._commit()
        self._done = True

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._abort()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


class Storage(ABC):
    """The interface both backends implement. Every call blocks: run it off the event loop."""

    kind: str

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        # Link expiry is checked by a real outside party (Azure, a browser, our route) against
        # the real clock, so it never follows a service's injected `now`.
        self._clock = clock or (lambda: datetime.now(UTC))

    @abstractmethod
    def writer(self, blob: str, *, content_type: str, public: bool = False) -> BlobWriter: ...

    @abstractmethod
    def read_chunks(self, blob: str, *, public: bool = False) -> Iterator[bytes]:
        """The blob's bytes as stored, in chunks, unchecked. Raises BlobNotFound."""

    @abstractmethod
    def delete(self, blob: str, *, public: bool = False) -> bool:
        """Remove the blob; False when it was not there."""

    @abstractmethod
    def exists(self, blob: str, *, public: bool = False) -> bool: ...

    def check(self) -> None:
        """Raise when the storage cannot be used now (the readiness check): one cheap
        request to where the files live."""
        self.exists(HEALTH_PROBE)

    @abstractmethod
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
        """A read-only link to one private blob that stops working after `seconds`.

        `holder` is the login session the link is for: where the backend can check it, no
        other session (or no session at all) can use the link. `client_ip` narrows it to
        that address where the backend supports it and the address is a public one.
        """

    @abstractmethod
    def public_url(self, blob: str) -> str: ...

    def sweep_incomplete(self, older_than: timedelta) -> int:
        """Remove uploads that never finished; 0 where the service does it by itself."""
        return 0

    # --- shared helpers -----------------------------------------------------------------

    def put(self, blob: str, data: bytes, *, content_type: str, public: bool = False) -> str:
        """Store small bytes in one go; returns their SHA-256."""
        with self.writer(blob, content_type=content_type, public=public) as w:
            w.write(data)
            w.commit()
            return w.sha256

    def verify(self, blob: str, sha256: str) -> int:
        """Read the whole private blob and compare its SHA-256; returns its size."""
        digest, size = hashlib.sha256(), 0
        for chunk in self.read_chunks(blob):
            digest.update(chunk)
            size += len(chunk)
        if not hmac.compare_digest(digest.hexdigest(), sha256):
            raise BlobIntegrityError(f"SHA-256 mismatch for blob {blob}")
        return size

    def read_bytes(self, blob: str, *, sha256: str | None = None, public: bool = False) -> bytes:
        """The whole blob in memory (small files and tests), checked when sha256 is given."""
        data = b"".join(self.read_chunks(blob, public=public))
        if sha256 is not None and not hmac.compare_digest(hashlib.sha256(data).hexdigest(), sha256):
            raise BlobIntegrityError(f"SHA-256 mismatch for blob {blob}")
        return data

    def _expiry(self, seconds: int) -> datetime:
        seconds = max(1, min(seconds, MAX_LINK_SECONDS))
        return self._clock().replace(microsecond=0) + timedelta(seconds=seconds)


def storage_from_settings(settings: Settings) -> Storage:
    # The backends import this module for the interface, so they are imported here.
    from health_app.services.files.azure_storage import AzureBlobStorage
    from health_app.services.files.local_storage import LocalStorage

    if settings.storage_backend == "azure":
        return AzureBlobStorage(
            connection_string=settings.azure_storage_connection_string,
            account_name=settings.azure_storage_account,
            account_key=settings.azure_storage_key,
            endpoint=settings.azure_storage_endpoint,
            private_container=settings.azure_private_container,
            public_container=settings.azure_public_container,
            public_base_url=settings.azure_public_base_url,
            block_bytes=settings.storage_block_bytes,
        )
    return LocalStorage(
        settings.files_dir, settings.public_files_dir, secret=settings.file_link_secret
    )


@lru_cache(maxsize=4)
def get_storage(settings: Settings) -> Storage:
    """The process-wide storage for these settings (clients are thread-safe and reusable)."""
    return storage_from_settings(settings)
