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

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from health_app.config import Settings

MAX_LINK_SECONDS = 300  # the ceiling for any private link
READ_CHUNK = 256 * 1024
_BLOB_NAME = re.compile(r"^[a-z0-9]+(?:[/_-][a-z0-9]+)*(?:\.[a-z0-9]{1,5})?$")
_INCOMING = ".incoming"
_SECRET_FILE = ".link-secret"  # noqa: S105 (a file name, not a secret)


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
    ) -> SignedLink:
        """A read-only link to one private blob that stops working after `seconds`."""

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


# --- local folder -------------------------------------------------------------------------


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

    def _stored_secret(self) -> str:
        """A random key kept beside the files, shared by every process on this disk."""
        self.private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
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
        if not root.exists():
            root.mkdir(parents=True, exist_ok=True, mode=0o755 if public else 0o700)
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
    ) -> SignedLink:
        expires = self._expiry(seconds)
        claims = {
            "b": check_blob_name(blob),
            "e": int(expires.timestamp()),
            "n": filename,
            "t": content_type,
            "i": inline,
            "h": sha256,
        }
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


# --- Azure Blob Storage -------------------------------------------------------------------


class _AzureWriter(BlobWriter):
    """Block blob built from staged blocks; committed in one call at the end.

    Memory: one block buffer. A chunk that fills a block on its own is staged as is, without
    copying. Uncommitted blocks of an aborted upload are discarded by the service (7 days).
    """

    def __init__(self, client: Any, content_type: str, block_bytes: int) -> None:
        super().__init__()
        self._client = client
        self._content_type = content_type
        self._block_bytes = block_bytes
        self._buffer = bytearray()
        self._blocks: list[str] = []

    def _stage(self, data: bytes | bytearray) -> None:
        block_id = base64.b64encode(f"{len(self._blocks):08d}".encode()).decode()
        self._client.stage_block(block_id=block_id, data=bytes(data), length=len(data))
        self._blocks.append(block_id)

    def _write(self, data: bytes) -> None:
        if not self._buffer and len(data) >= self._block_bytes:
            self._stage(data)
            return
        self._buffer += data
        if len(self._buffer) >= self._block_bytes:
            self._stage(self._buffer)
            self._buffer = bytearray()

    def _commit(self) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.storage.blob import BlobBlock, ContentSettings

        if self._buffer or not self._blocks:
            self._stage(self._buffer)
            self._buffer = bytearray()
        try:
            self._client.commit_block_list(
                [BlobBlock(block_id=b) for b in self._blocks],
                content_settings=ContentSettings(content_type=self._content_type),
                metadata={"sha256": self.sha256},
                # A generated name is never reused: refuse to overwrite anything.
                match_condition=MatchConditions.IfMissing,
            )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise StorageError("blob already exists") from exc

    def _abort(self) -> None:
        self._buffer = bytearray()


class AzureBlobStorage(Storage):
    kind = "azure"

    def __init__(
        self,
        *,
        connection_string: str = "",
        account_name: str = "",
        account_key: str = "",
        endpoint: str = "",
        private_container: str = "patient-files",
        public_container: str = "public-assets",
        public_base_url: str = "",
        block_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from azure.storage.blob import BlobServiceClient

        super().__init__(clock=clock)
        options: dict[str, Any] = {
            # Bounded memory on reads and writes: one block at a time.
            "max_single_get_size": block_bytes,
            "max_chunk_get_size": block_bytes,
            "max_single_put_size": block_bytes,
            "max_block_size": block_bytes,
            "connection_timeout": 10,
            "read_timeout": 60,
        }
        if connection_string:
            self._service = BlobServiceClient.from_connection_string(connection_string, **options)
        else:
            url = endpoint or f"https://{account_name}.blob.core.windows.net"
            self._service = BlobServiceClient(
                account_url=url,
                credential={"account_name": account_name, "account_key": account_key},
                **options,
            )
        credential = self._service.credential
        if not getattr(credential, "account_key", None):
            # Read SAS links are signed with the account key (no user-delegation SAS yet).
            raise StorageError("Azure storage needs an account key (connection string or key)")
        self._account_name: str = credential.account_name
        self._account_key: str = credential.account_key
        self.private_container = private_container
        self.public_container = public_container
        self._public_base_url = public_base_url.rstrip("/")
        self._block_bytes = block_bytes
        self._ready = False
        self._lock = threading.Lock()

    def ensure_containers(self) -> None:
        """Create both containers once (the public one readable anonymously, blobs only)."""
        if self._ready:
            return
        from azure.core.exceptions import ResourceExistsError

        with self._lock:
            if self._ready:
                return
            for name, access in ((self.private_container, None), (self.public_container, "blob")):
                with contextlib.suppress(ResourceExistsError):
                    self._service.create_container(name, public_access=access)
            self._ready = True

    def _blob(self, blob: str, public: bool) -> Any:
        self.ensure_containers()
        container = self.public_container if public else self.private_container
        return self._service.get_blob_client(container, check_blob_name(blob))

    def writer(self, blob: str, *, content_type: str, public: bool = False) -> BlobWriter:
        return _AzureWriter(self._blob(blob, public), content_type, self._block_bytes)

    def read_chunks(self, blob: str, *, public: bool = False) -> Iterator[bytes]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            stream = self._blob(blob, public).download_blob(max_concurrency=1)
        except ResourceNotFoundError as exc:
            raise BlobNotFound(blob) from exc
        return stream.chunks()

    def delete(self, blob: str, *, public: bool = False) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._blob(blob, public).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    def exists(self, blob: str, *, public: bool = False) -> bool:
        return bool(self._blob(blob, public).exists())

    def public_url(self, blob: str) -> str:
        name = check_blob_name(blob)
        if self._public_base_url:
            return f"{self._public_base_url}/{name}"
        return self._service.get_blob_client(self.public_container, name).url

    def private_link(
        self,
        blob: str,
        *,
        filename: str,
        content_type: str,
        inline: bool,
        sha256: str,
        seconds: int = MAX_LINK_SECONDS,
    ) -> SignedLink:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        client = self._blob(blob, False)
        expires = self._expiry(seconds)
        sas = generate_blob_sas(
            account_name=self._account_name,
            container_name=self.private_container,
            blob_name=blob,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            expiry=expires,
            # Response headers the SAS forces, whatever the blob's properties say.
            content_disposition=content_disposition(filename, inline=inline),
            content_type=content_type,
            cache_control="no-store",
        )
        return SignedLink(f"{client.url}?{sas}", expires)


# --- choosing a backend -----------------------------------------------------------------


def storage_from_settings(settings: Settings) -> Storage:
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
