"""The `health-app` command line and the demo data, on both databases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session, select

from health_app import cli, config
from health_app.config import Settings
from health_app.dev import demo
from health_app.models import DoctorProfile, PatientProfile, User
from health_app.services.accounts import registration, sessions
from tests.factories import doctor_form


@pytest.fixture
def cli_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    config.get_settings.cache_clear()
    yield engine
    config.get_settings.cache_clear()


def test_migrations_reach_head_and_match_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    tables = set(inspect(engine).get_table_names())
    assert {
        "app_user",
        "patient_profile",
        "doctor_profile",
        "login_session",
        "email_token",
        "audit_event",
        "outbox_message",
    } <= tables
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_demo_data_loads_once_and_the_demo_logins_work(
    cli_env: Engine, capsys: pytest.CaptureFixture[str], now: datetime
) -> None:
    assert cli.main(["seed-demo", "--doctors", "3", "--patients", "4"]) == 0
    out = capsys.readouterr().out
    assert demo.DEMO_PATIENT in out and demo.DEMO_PASSWORD in out
    assert cli.main(["seed-demo"]) == 1  # not into a database with data
    assert cli.main(["seed-demo", "--if-empty"]) == 0
    settings = Settings(database_url=str(cli_env.url))
    with Session(cli_env) as s:
        assert len(s.exec(select(User)).all()) == 3 + 4 + 1
        for email, role in (
            (demo.DEMO_PATIENT, "patient"),
            (demo.DEMO_DOCTOR, "doctor"),
            (demo.DEMO_ADMIN, "admin"),
        ):
            result = sessions.login(
                s, email=email, password=demo.DEMO_PASSWORD, client="t", settings=settings, now=now
            )
            assert result.actor.role == role


def test_demo_data_is_deterministic(engine: Engine, settings: Settings, now: datetime) -> None:
    def snapshot() -> list[tuple[str, ...]]:
        with Session(engine) as s:
            demo.seed_demo(s, settings=settings, now=now, doctors=4, patients=6)
            s.flush()
            rows = s.exec(
                select(
                    User.email,
                    User.first_name,
                    User.last_name,
                    PatientProfile.health_card_number,
                    PatientProfile.address_line,
                )
                .join(PatientProfile, PatientProfile.user_id == User.id, isouter=True)
                .order_by(User.email)
            ).all()
            s.rollback()
        return [tuple(str(v) for v in r) for r in rows]

    first, second = snapshot(), snapshot()
    assert first == second and len(first) == 4 + 6 + 1
    assert len({r[1:3] for r in first}) > 3  # varied names, not one repeated person


def test_create_admin_and_approve_doctor(
    cli_env: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct-staple-battery-9\n"))
    assert cli.main(["create-admin", "--email", "Boss@Clinic.example.org"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["create-admin", "--email", "weak@clinic.example.org"]) == 1
    assert "at least 12" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("correct-staple-battery-9\n"))
    assert cli.main(["create-admin", "--email", "boss@clinic.example.org"]) == 1
    assert "already exists" in capsys.readouterr().err

    assert cli.main(["approve-doctor", "--email", "nobody@clinic.example.org"]) == 1
    assert "No doctor account" in capsys.readouterr().err
    with Session(cli_env) as s:
        registration.apply_doctor(
            s,
            form=doctor_form(email="dr.new@clinic.example.org"),
            settings=Settings(database_url=str(cli_env.url)),
            now=datetime.now().astimezone(),
        )
        s.commit()
    assert cli.main(["approve-doctor", "--email", "dr.new@clinic.example.org"]) == 0
    with Session(cli_env) as s:
        doctor = s.exec(select(User).where(User.email == "dr.new@clinic.example.org")).one()
        assert s.get(DoctorProfile, doctor.id).approval_status == "approved"
        assert (
            s.exec(select(User).where(User.email == "boss@clinic.example.org")).one().role
            == "admin"
        )
