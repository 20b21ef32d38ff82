"""Files end to end over real HTTP, on both backends: the local folder served by our signed
link route (uvicorn on 127.0.0.1) and Azure Blob Storage (Azurite on 127.0.0.1).

Links are fetched with httpx as a browser would: no cookies, no app session.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, Outcome, VisitFile
from health_app.services.errors import DomainError, NotFound
from health_app.services.files import doctor_photo, upload, visit_files
from health_app.services.files.azure_storage import AzureBlobStorage
from health_app.services.files.local_storage import LocalStorage
from health_app.services.files.storage import Storage
from health_app.services.views import Actor
from tests.files_support import (
    LocalServer,
    World,
    azurite_storage,
    jpeg_with_location,
    local_server,  # noqa: F401  (fixture)
    local_storage,
    make_world,
    pdf_bytes,
    png_bytes,
)

PAST = timedelta(minutes=10)


@pytest.fixture(params=["local", "azurite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, object]]:
    """(kind, factory): factory(clock=None) builds the backend over the same data."""
    if request.param == "local":
        server: LocalServer = request.getfixturevalue("local_server")

        def make_local(clock=None) -> Storage:  # type: ignore[no-untyped-def]
            return local_storage(tmp_path / "files", server.url, clock=clock)

        server.holder.storage = make_local()
        yield "local", make_local
        server.holder.storage = None
    else:
        first = azurite_storage()

        def make_azure(clock=None) -> Storage:  # type: ignore[no-untyped-def]
            return azurite_storage_same(first, clock)

        yield "azurite", make_azure


def azurite_storage_same(first: AzureBlobStorage, clock) -> AzureBlobStorage:  # type: ignore[no-untyped-def]
    """Another client on the same containers (with its own clock)."""
    from tests.files_support import azurite_connection_string

    return AzureBlobStorage(
        connection_string=azurite_connection_string(),
        private_container=first.private_container,
        public_container=first.public_container,
        block_bytes=256 * 1024,
        clock=clock,
    )


@pytest.fixture
def world(session: Session, settings: Settings, now: datetime) -> World:
    return make_world(session, settings, now)


def upload_files(
    session: Session, storage: Storage, actor: Actor, visit_id: int, files, settings, now
) -> tuple[visit_files.VisitFileView, ...]:  # type: ignore[no-untyped-def]
    batch = upload.begin_upload(
        session, actor=actor, appointment_id=visit_id, settings=settings, storage=storage, now=now
    )
    for name, data in files:
        for offset in range(0, len(data), 64 * 1024):
            batch.feed(name, offset, data[offset : offset + 64 * 1024])
    views = upload.finish_upload(session, actor=actor, batch=batch, now=now)
    session.commit()
    return views


def link(
    session: Session, storage: Storage, actor: Actor, file_id: int, settings, now, *, inline=False
) -> str:  # type: ignore[no-untyped-def]
    url = visit_files.issue_link(
        session,
        actor=actor,
        file_id=file_id,
        inline=inline,
        settings=settings,
        storage=storage,
        now=now,
    ).url
    session.commit()
    return url


def test_upload_list_and_download_through_short_lived_links(
    session: Session, world: World, backend, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    kind, make = backend
    storage = make()
    report = pdf_bytes(300 * 1024)
    views = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [('Résumé "final".pdf', report), ("rash.jpg", jpeg_with_location())],
        world.settings,
        now,
    )
    listed = visit_files.list_files(
        session,
        actor=world.doctor,
        appointment_id=world.visit_id,
        settings=world.settings,
        storage=storage,
        now=now,
    )
    session.commit()
    assert [v.name for v in listed] == ['Résumé "final".pdf', "rash.jpg"]
    thumb = httpx.get(listed[1].thumbnail_url)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content.startswith(b"\xff\xd8\xff")

    response = httpx.get(link(session, storage, world.doctor, views[0].id, world.settings, now))
    assert response.status_code == 200
    assert response.content == report
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf" in disposition
    if kind == "local":  # Azure cannot add this header; its content type is forced by the SAS
        assert response.headers["x-content-type-options"] == "nosniff"

    preview = httpx.get(
        link(session, storage, world.patient, views[1].id, world.settings, now, inline=True)
    )
    assert preview.status_code == 200
    assert preview.headers["content-disposition"].startswith("inline;")
    assert b"GPSLatitude" not in preview.content
    actions = [
        (e.actor_id, e.action)
        for e in session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "visit_file").order_by(AuditEvent.id)  # type: ignore[arg-type]
        )
    ]
    assert actions[-2:] == [
        (world.doctor.user_id, "file.download"),
        (world.patient.user_id, "file.preview"),
    ]


def test_private_blobs_are_not_reachable_without_a_link(
    session: Session, world: World, backend, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    kind, make = backend
    storage = make()
    (view,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    row = session.get(VisitFile, view.id)
    assert row is not None
    url = link(session, storage, world.patient, view.id, world.settings, now)
    if kind == "azurite":
        anonymous = httpx.get(url.split("?", 1)[0])  # the blob's URL without the SAS
        assert anonymous.status_code == 403
    else:
        base = url.split("/_files/", 1)[0]
        assert httpx.get(f"{base}/_files/private/{row.blob_name}").status_code in (403, 404)
        assert httpx.get(f"{base}/_files/private/not-a-token").status_code == 403
        # The public route never reaches into the private folder.
        assert httpx.get(f"{base}/_files/public/{row.blob_name}").status_code == 404
        assert httpx.get(f"{base}/_files/public/../private/{row.blob_name}").status_code == 404
    assert httpx.get(url).status_code == 200


def test_expired_link_is_refused(session: Session, world: World, backend, now: datetime) -> None:  # type: ignore[no-untyped-def]
    _, make = backend
    (view,) = upload_files(
        session,
        make(),
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    # Issued by a process whose clock says ten minutes ago: expired five minutes ago.
    late = make(clock=lambda: datetime.now(UTC) - PAST)
    url = link(session, late, world.patient, view.id, world.settings, now)
    assert httpx.get(url).status_code == 403


def test_tampered_link_is_refused(session: Session, world: World, backend, now: datetime) -> None:  # type: ignore[no-untyped-def]
    kind, make = backend
    storage = make()
    (mine,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    (theirs,) = upload_files(
        session,
        storage,
        world.other_patient,
        world.other_visit_id,
        [("b.pdf", pdf_bytes(10))],
        world.settings,
        now,
    )
    other_row = session.get(VisitFile, theirs.id)
    assert other_row is not None
    url = link(session, storage, world.patient, mine.id, world.settings, now)
    if kind == "azurite":
        parts = urlsplit(url)
        container = unquote(parts.path).split("/")[2]
        swapped = url.replace(parts.path, f"/devstoreaccount1/{container}/{other_row.blob_name}")
        longer = url.replace("se=", "se=2099-01-01T00%3A00%3A00Z&old_se=", 1)
        tampered = [swapped, longer, url.replace("sp=r", "sp=rw")]
    else:
        prefix, token = url.rsplit("/", 1)
        body, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        forged = dict(claims, b=other_row.blob_name, h=other_row.sha256)
        forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        later = dict(claims, e=claims["e"] + 3600)
        later_body = base64.urlsafe_b64encode(json.dumps(later).encode()).rstrip(b"=").decode()
        flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        tampered = [
            f"{prefix}/{forged_body}.{sig}",
            f"{prefix}/{later_body}.{sig}",
            f"{prefix}/{body}.{flipped}",
            f"{prefix}/{body}",
        ]
    for bad in tampered:
        assert httpx.get(bad).status_code == 403, bad
    assert httpx.get(url).status_code == 200


def test_another_patients_file_is_denied_and_audited(
    session: Session, world: World, backend, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    _, make = backend
    storage = make()
    (view,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    with pytest.raises(NotFound):
        visit_files.issue_link(
            session,
            actor=world.other_patient,
            file_id=view.id,
            inline=False,
            settings=world.settings,
            storage=storage,
            now=now,
        )
    session.rollback()
    (denied,) = session.exec(select(AuditEvent).where(AuditEvent.outcome == Outcome.DENIED)).all()
    assert (denied.actor_id, denied.action, denied.object_id) == (
        world.other_patient.user_id,
        "file.download",
        str(view.id),
    )


def test_delete_then_purge_after_the_grace_period(
    session: Session, world: World, backend, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    _, make = backend
    storage = make()
    (view,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.png", png_bytes())],
        world.settings,
        now,
    )
    early_link = link(session, storage, world.patient, view.id, world.settings, now)
    visit_files.delete_file(
        session, actor=world.patient, file_id=view.id, settings=world.settings, now=now
    )
    session.commit()
    with pytest.raises(NotFound):
        link(session, storage, world.patient, view.id, world.settings, now)
    session.rollback()
    row = session.get(VisitFile, view.id)
    assert row is not None
    assert visit_files.purge_deleted(session, storage, now + timedelta(days=29)) == 0
    session.commit()
    assert storage.exists(row.blob_name) and storage.exists(row.thumbnail_blob)
    assert visit_files.purge_deleted(session, storage, now + timedelta(days=31)) == 1
    session.commit()
    assert not storage.exists(row.blob_name) and not storage.exists(row.thumbnail_blob)
    assert httpx.get(early_link).status_code == 404  # a link still in its 5 minutes: gone


def test_integrity_mismatch_is_not_served(
    session: Session, world: World, backend, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    kind, make = backend
    storage = make()
    (view,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    row = session.get(VisitFile, view.id)
    assert row is not None
    url = link(session, storage, world.patient, view.id, world.settings, now)
    altered = pdf_bytes().replace(b"Catalog", b"Catalig")
    if isinstance(storage, AzureBlobStorage):
        storage._service.get_blob_client(storage.private_container, row.blob_name).upload_blob(
            altered, overwrite=True
        )
    else:
        assert isinstance(storage, LocalStorage)
        (storage.private_dir / row.blob_name).write_bytes(altered)
    if kind == "local":  # our route re-checks at read time: refused, not served
        response = httpx.get(url)
        assert response.status_code == 409 and b"Catalig" not in response.content
    with pytest.raises(DomainError, match="integrity check"):
        link(session, storage, world.doctor, view.id, world.settings, now)
    session.rollback()
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "file.integrity")).all()
    assert [(e.outcome, e.actor_id) for e in events] == [(Outcome.FAILURE, world.doctor.user_id)]


def test_doctor_photo_is_public(session: Session, world: World, backend, now: datetime) -> None:  # type: ignore[no-untyped-def]
    _, make = backend
    storage = make()
    url = doctor_photo.set_doctor_photo(
        session,
        actor=world.doctor,
        data=jpeg_with_location(),
        settings=world.settings,
        storage=storage,
        now=now,
    )
    session.commit()
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert b"GPSLatitude" not in response.content


def test_the_readiness_check_reaches_azure_and_notices_a_wrong_key() -> None:
    from tests.files_support import azurite_connection_string

    azurite_storage().check()  # the containers are made and a probe answered
    wrong = azurite_connection_string().replace("AccountKey=", "AccountKey=AAAA", 1)
    with pytest.raises(Exception):  # noqa: B017 (Azure's own refusal: 403)
        AzureBlobStorage(
            connection_string=wrong, private_container="p-x", public_container="q-x"
        ).check()
