"""`health-app`: database, demo data and account commands for operators."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime

from health_app.config import get_settings, refuse_unsafe_production, worker_count
from health_app.db import session_scope
from health_app.dev import demo
from health_app.services.accounts import admin
from health_app.services.errors import DomainError, ValidationFailed
from health_app.services.validation import FieldError

BUILD_ADDRESS = "http://localhost:8000"


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from health_app.migrations import upgrade

    upgrade(get_settings().database_url)
    print("database is up to date")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    if not get_settings().dev_mode:
        # Demo accounts share one published password: never in a clinic's database.
        print("error: demo data is for development only (DEV_MODE=true)", file=sys.stderr)
        return 1
    with session_scope() as session:
        if not demo.is_empty(session):
            if args.if_empty:
                print("database already has data; demo data not loaded")
                _print_logins()
                return 0
            print(
                "error: the database is not empty; demo data goes into an empty database only",
                file=sys.stderr,
            )
            return 1
        report = demo.seed_demo(
            session,
            settings=get_settings(),
            now=_now(),
            doctors=args.doctors,
            patients=args.patients,
            availability_days=args.days,
            demo_visits=True,
        )
    print(f"demo data loaded: {report.doctors} doctors, {report.patients} patients, 1 admin")
    _print_logins()
    return 0


def _print_logins() -> None:
    print(f"demo logins (password for all: {demo.DEMO_PASSWORD})")
    for role, email in (
        ("patient", demo.DEMO_PATIENT),
        ("doctor", demo.DEMO_DOCTOR),
        ("admin", demo.DEMO_ADMIN),
    ):
        print(f"  {role:8} {email}")


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise DomainError("The two passwords do not match.")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_create_admin(args: argparse.Namespace) -> int:
    password = _read_password()
    with session_scope() as session:
        admin.create_admin(
            session,
            email=args.email,
            password=password,
            first_name=args.first_name,
            last_name=args.last_name,
            now=_now(),
        )
    print(f"admin {args.email.strip().lower()} created")
    return 0


def cmd_approve_doctor(args: argparse.Namespace) -> int:
    with session_scope() as session:
        admin.approve_doctor_by_email(
            session, email=args.email, settings=get_settings(), now=_now()
        )
    print(f"doctor {args.email.strip().lower()} approved")
    return 0


def cmd_availability_tick(_args: argparse.Namespace) -> int:
    from health_app.services.jobs.housekeeping import tick

    report = tick()
    print(
        f"weekly templates extended: {report.slots_created} new slots; "
        f"past open slots removed: {report.slots_removed}"
    )
    return 0


def cmd_reminders_tick(_args: argparse.Namespace) -> int:
    from health_app.db import get_engine
    from health_app.services.jobs.scheduler import run_tick

    # No leader election for a one-off: claims keep each message to one send even beside a
    # running scheduler.
    report = run_tick(get_engine(), get_settings(), now=_now())
    for line in report.lines():
        print(line)
    return 0


def cmd_scheduler(_args: argparse.Namespace) -> int:

    from health_app.db import get_engine
    from health_app.services.jobs.scheduler import Scheduler

    settings = get_settings()
    refuse_unsafe_production(settings)
    scheduler = Scheduler(get_engine(), settings, blocking=True)
    every = settings.scheduler_tick_seconds
    print(f"scheduler running: one tick every {every} s (Ctrl-C stops it)")
    if settings.scheduler_in_app:
        print("note: SCHEDULER_IN_APP is true; the app's workers take part in the election too")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        scheduler.shutdown()
    return 0


def cmd_build_frontend(args: argparse.Namespace) -> int:
    from health_app.serve import build_frontend

    return build_frontend(args.address)


def cmd_serve(args: argparse.Namespace) -> int:
    from health_app.serve import serve

    if not 1 <= args.workers <= 64:
        print("error: --workers must be between 1 and 64", file=sys.stderr)
        return 2
    return serve(get_settings(), host=args.host, port=args.port, workers=args.workers)


def cmd_new_token_key(_args: argparse.Namespace) -> int:
    """A fresh key for MICROSOFT_TOKEN_KEYS (needs no settings and no database)."""
    from health_app.services.microsoft.token_keys import new_key

    print(new_key())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="health-app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply every migration").set_defaults(func=cmd_db_upgrade)

    seed = sub.add_parser("seed-demo", help="load deterministic demo data into an empty database")
    seed.add_argument("--doctors", type=int, default=5)
    seed.add_argument("--patients", type=int, default=20)
    seed.add_argument(
        "--days",
        type=int,
        default=60,
        help="days of weekly hours (Mon-Fri) each doctor publishes; 0 for none",
    )
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing (and succeed) if data exists"
    )
    seed.set_defaults(func=cmd_seed_demo)

    ca = sub.add_parser(
        "create-admin", help="create an admin; the password is read from a prompt or stdin"
    )
    ca.add_argument("--email", required=True)
    ca.add_argument("--first-name", default="Clinic")
    ca.add_argument("--last-name", default="Administrator")
    ca.set_defaults(func=cmd_create_admin)

    av = sub.add_parser("availability", help="availability upkeep")
    av_sub = av.add_subparsers(dest="availability_command", required=True)
    av_sub.add_parser(
        "tick", help="extend weekly templates and tidy past slots once (the app does it hourly)"
    ).set_defaults(func=cmd_availability_tick)

    rem = sub.add_parser("reminders", help="notifications and reminders")
    rem_sub = rem.add_subparsers(dest="reminders_command", required=True)
    rem_sub.add_parser(
        "tick", help="send what is due and do the upkeep once, then print what was done"
    ).set_defaults(func=cmd_reminders_tick)

    sub.add_parser(
        "scheduler",
        help="run the scheduler in the foreground (one tick a minute; run exactly one)",
    ).set_defaults(func=cmd_scheduler)

    build = sub.add_parser(
        "build-frontend", help="compile the pages once (an image does this at build time)"
    )
    build.add_argument(
        "--address",
        default=BUILD_ADDRESS,
        help="where browsers reach the backend (default %(default)s: any host behind https)",
    )
    build.set_defaults(func=cmd_build_frontend)

    serve = sub.add_parser("serve", help="serve the built pages and the app with N workers")
    serve.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=worker_count())
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("new-token-key", help="print a new key for MICROSOFT_TOKEN_KEYS").set_defaults(
        func=cmd_new_token_key
    )

    ad = sub.add_parser("approve-doctor", help="approve a doctor's application")
    ad.add_argument("--email", required=True)
    ad.set_defaults(func=cmd_approve_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from health_app.logs import configure_from_environment

    try:
        configure_from_environment()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "doctors", 1) < 1 or getattr(args, "patients", 1) < 1:
        print("error: --doctors and --patients must be at least 1", file=sys.stderr)
        return 2
    if not 0 <= getattr(args, "days", 0) <= 365:
        print("error: --days must be between 0 and 365", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except ValidationFailed as exc:
        for field, message in exc.field_errors.items():
            print(f"error: {field}: {message}", file=sys.stderr)
        return 1
    except (DomainError, FieldError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad settings
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
