"""Blob storage on Azure Blob Storage (Azurite in tests): SAS links for private blobs."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from health_app.services.files.storage import (
    MAX_LINK_SECONDS,
    BlobNotFound,
    BlobWriter,
    SignedLink,
    Storage,
    StorageError,
    check_blob_name,
    content_disposition,
)


def _is_public_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


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
        holder: int | None = None,
        client_ip: str = "",
    ) -> SignedLink:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        # Azure cannot see our session cookie: the SAS is short and, for a requester on a
        # public address, limited to that address.
        ip = client_ip if _is_public_address(client_ip) else None

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
            ip=ip,
        )
        return SignedLink(f"{client.url}?{sas}", expires)
