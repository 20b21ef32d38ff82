"""One typed settings object, read from the environment once.

Every knob of the app lives here and in `.env.example`; nothing else reads os.environ.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: an address only this machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _bounded_int(name: str, default: int, low: int, high: int) -> int:
    value = _env_int(name, default)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name, "1" if default else "0").lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///health_app.db"
    # Base of every link we email (activation, reset); the address users reach the app at.
    public_base_url: str = "http://localhost:3000"
    # Development mode: the mailbox page exists and mail never leaves the machine.
    dev_mode: bool = True
    clinic_timezone: str = "America/Toronto"
    region: str = "CA-ON"
    # Outgoing mail: "dev" stores messages for the mailbox page, "smtp" sends them.
    mail_backend: str = "dev"
    mail_from: str = "Health App <no-reply@health-app.local>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = True
    smtp_timeout_seconds: int = 10
    # SMS: "dev" stores messages for the mailbox page; "twilio" posts to a Twilio-compatible
    # Messages API (Twilio, SignalWire: {base}/2010-04-01/Accounts/{sid}/Messages.json).
    sms_backend: str = "dev"
    sms_api_base_url: str = "https://api.twilio.com"
    sms_account_sid: str = ""
    sms_auth_token: str = field(default="", repr=False)
    sms_from_number: str = ""
    sms_timeout_seconds: int = 10
    # Reminders, in minutes before a visit (24 h and 15 min by default).
    reminder_offsets_minutes: tuple[int, ...] = (1440, 15)
    # Run the scheduler inside the app's workers (one is elected by a PostgreSQL advisory
    # lock); false when `health-app scheduler` runs as its own process.
    scheduler_in_app: bool = True
    # Seconds between scheduler ticks (deliveries right after a change do not wait for one).
    scheduler_tick_seconds: int = 60
    # How long a sender owns the messages it claimed: a sender that dies mid-batch leaves
    # them to the next claim after this.
    outbox_lease_seconds: int = 300
    # Messages one claim leases: small claims hold the SQLite write lock for a few ms only.
    outbox_batch_size: int = 100
    session_idle_minutes_patient: int = 30
    session_idle_minutes_staff: int = 15
    session_absolute_hours: int = 12
    confirm_token_hours: int = 48
    reset_token_minutes: int = 60
    change_email_token_hours: int = 24
    login_max_failures_per_hour: int = 100
    login_free_failures: int = 5
    login_max_delay_seconds: int = 900
    client_max_failures_per_hour: int = 300
    # Reset and activation emails asked for, per address and per client, per hour.
    email_requests_per_address_per_hour: int = 3
    email_requests_per_client_per_hour: int = 20
    # Failed logins on one account in an hour that make us warn its owner by email.
    login_alert_failures: int = 10
    cors_allowed_origins: tuple[str, ...] = ("http://localhost:3000",)
    # Video visits without Microsoft 365: this base plus an unguessable room name.
    video_room_base_url: str = "https://meet.jit.si/"
    availability_horizon_days: int = 60
    max_future_appointments: int = 5
    booking_attempts_per_hour: int = 30
    # Files on visits (services/storage.py, services/visit_files.py). Sizes in bytes here,
    # in MB (MiB) in the environment.
    storage_backend: str = "local"  # "local" or "azure"
    # Local backend: patient files (never served directly) and public assets (photos).
    files_dir: str = "var/files"
    public_files_dir: str = "var/public"
    # HMAC key for local download links; "" = generated once into files_dir/.link-secret.
    file_link_secret: str = field(default="", repr=False)
    file_link_seconds: int = 300
    # Azure backend: a connection string, or an account name and key (+ optional endpoint).
    azure_storage_connection_string: str = field(default="", repr=False)
    azure_storage_account: str = ""
    azure_storage_key: str = field(default="", repr=False)
    azure_storage_endpoint: str = ""
    azure_private_container: str = "patient-files"
    azure_public_container: str = "public-assets"
    # Base URL for public assets when a CDN fronts the public container ("" = blob URL).
    azure_public_base_url: str = ""
    storage_block_bytes: int = 4 * 1024 * 1024
    file_max_bytes: int = 20 * 1024 * 1024
    visit_files_max_bytes: int = 100 * 1024 * 1024
    files_per_upload: int = 10
    image_max_pixels: int = 50_000_000
    file_purge_days: int = 30
    # Microsoft 365 (services/microsoft/): an Entra ID app registration. Without a client id
    # and secret the connect button is hidden and nothing talks to Microsoft.
    microsoft_client_id: str = ""
    microsoft_client_secret: str = field(default="", repr=False)
    # "organizations" (any work or school account), "common", or one tenant's id.
    microsoft_tenant: str = "organizations"
    microsoft_authority_host: str = "https://login.microsoftonline.com"
    microsoft_graph_base_url: str = "https://graph.microsoft.com/v1.0"
    # Where Entra ID sends people back ("" = this server's /_auth/microsoft/callback).
    microsoft_redirect_uri: str = ""
    # Keys that encrypt stored tokens, comma-separated: the first encrypts, all decrypt.
    microsoft_token_keys: tuple[str, ...] = field(default=(), repr=False)
    # A CA file to trust for Microsoft's endpoints ("" = the system's): private stand-ins.
    microsoft_ca_bundle: str = ""
    microsoft_timeout_seconds: int = 10
    # How often a connected doctor's Outlook busy times are read again.
    outlook_busy_refresh_minutes: int = 5

    # Google Maps (services/maps/): the server key (geocoding, places) never leaves the
    # server; the embed key is public, referrer-restricted, for the Maps Embed iframe.
    google_maps_server_key: str = field(default="", repr=False)
    google_maps_embed_key: str = ""
    google_maps_base_url: str = "https://maps.googleapis.com"
    # Seconds the client keeps retrying 5xx and OVER_QUERY_LIMIT answers, per call.
    google_maps_retry_timeout_seconds: int = 5
    google_maps_timeout_seconds: int = 5
    pharmacy_radius_meters: int = 5000
    # Reflex's per-tab state: in this process's memory (one worker), or in Redis when
    # REFLEX_REDIS_URL is set (several workers). A tab's state is dropped this long after
    # its last event, so memory comes back after tabs close.
    reflex_redis_url: str = field(default="", repr=False)
    # Connections each worker process keeps open to PostgreSQL, and how many more it may
    # open at a peak (SQLite ignores both).
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # Threads each worker runs its quick database services on (state/unit_of_work.py).
    service_threads: int = 2
    state_expiry_minutes: int = 60

    @property
    def maps_enabled(self) -> bool:
        return bool(self.google_maps_server_key)

    @property
    def microsoft_enabled(self) -> bool:
        return bool(self.microsoft_client_id and self.microsoft_client_secret)

    @property
    def microsoft_authority(self) -> str:
        return f"{self.microsoft_authority_host}/{self.microsoft_tenant}"

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    @property
    def https(self) -> bool:
        return self.public_base_url.startswith("https://")

    @property
    def session_cookie(self) -> str:
        """`__Host-` over https: the browser then insists on Secure, Path=/ and no Domain."""
        return "__Host-ha_session" if self.https else "ha_session"

    @property
    def azure_blob_origin(self) -> str:
        """Where browsers fetch Azure blobs from ("" with the local backend): for the CSP."""
        if self.storage_backend != "azure":
            return ""
        endpoint = self.azure_storage_endpoint
        if not endpoint and self.azure_storage_connection_string:
            parts = dict(
                p.split("=", 1) for p in self.azure_storage_connection_string.split(";") if "=" in p
            )
            endpoint = parts.get("BlobEndpoint", "")
            if not endpoint and parts.get("AccountName"):
                protocol = parts.get("DefaultEndpointsProtocol", "https")
                suffix = parts.get("EndpointSuffix", "core.windows.net")
                endpoint = f"{protocol}://{parts['AccountName']}.blob.{suffix}"
        if not endpoint and self.azure_storage_account:
            endpoint = f"https://{self.azure_storage_account}.blob.core.windows.net"
        origins = {_origin(endpoint), _origin(self.azure_public_base_url)} - {""}
        return " ".join(sorted(origins))

    def idle_minutes_for(self, role: str) -> int:
        return (
            self.session_idle_minutes_patient
            if role == "patient"
            else self.session_idle_minutes_staff
        )


def load_settings() -> Settings:
    """Build settings from the environment; raises ValueError with the variable's name."""
    database_url = _env("DATABASE_URL", Settings.database_url)
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        # The driver named: psycopg 3 (postgres:// is Heroku-style and unknown to SQLAlchemy).
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    mail_backend = _env("MAIL_BACKEND", Settings.mail_backend)
    if mail_backend not in {"dev", "smtp"}:
        raise ValueError(f"MAIL_BACKEND must be 'dev' or 'smtp', got {mail_backend!r}")
    timezone = _env("CLINIC_TIMEZONE", Settings.clinic_timezone)
    try:
        ZoneInfo(timezone)
    except Exception as exc:
        raise ValueError(f"CLINIC_TIMEZONE is not an IANA time zone: {timezone!r}") from exc
    public_base_url = _env("PUBLIC_BASE_URL", Settings.public_base_url).rstrip("/")
    dev_mode = _env_bool("DEV_MODE", Settings.dev_mode)
    if dev_mode and not is_loopback_url(public_base_url):
        # Development mode opens the mailbox page (reset links for any account) and demo
        # logins: only on a machine's own address.
        raise ValueError(
            f"DEV_MODE=true is for a local machine only, but PUBLIC_BASE_URL is "
            f"{public_base_url!r}: set DEV_MODE=false, or use http://localhost:PORT"
        )
    sms_backend = _env("SMS_BACKEND", Settings.sms_backend)
    if sms_backend not in {"dev", "twilio"}:
        raise ValueError(f"SMS_BACKEND must be 'dev' or 'twilio', got {sms_backend!r}")
    offsets_raw = _env("REMINDER_OFFSETS_MINUTES", "1440,15")
    try:
        offsets = tuple(sorted({int(o) for o in offsets_raw.split(",") if o.strip()}, reverse=True))
    except ValueError as exc:
        raise ValueError(
            f"REMINDER_OFFSETS_MINUTES must be comma-separated minutes, got {offsets_raw!r}"
        ) from exc
    if any(o <= 0 or o > 7 * 1440 for o in offsets):
        raise ValueError("REMINDER_OFFSETS_MINUTES must be between 1 and 10080 minutes")
    origins = tuple(
        o.strip() for o in _env("CORS_ALLOWED_ORIGINS", public_base_url).split(",") if o.strip()
    )
    return Settings(
        database_url=database_url,
        public_base_url=public_base_url,
        dev_mode=dev_mode,
        clinic_timezone=timezone,
        region=_env("REGION", Settings.region),
        mail_backend=mail_backend,
        mail_from=_env("MAIL_FROM", Settings.mail_from),
        smtp_host=_env("SMTP_HOST", Settings.smtp_host),
        smtp_port=_env_int("SMTP_PORT", Settings.smtp_port),
        smtp_username=_env("SMTP_USERNAME", ""),
        smtp_password=os.environ.get("SMTP_PASSWORD", ""),
        smtp_starttls=_env_bool("SMTP_STARTTLS", Settings.smtp_starttls),
        smtp_timeout_seconds=_env_int("SMTP_TIMEOUT_SECONDS", Settings.smtp_timeout_seconds),
        sms_backend=sms_backend,
        sms_api_base_url=_env("SMS_API_BASE_URL", Settings.sms_api_base_url).rstrip("/"),
        sms_account_sid=_env("SMS_ACCOUNT_SID", ""),
        sms_auth_token=os.environ.get("SMS_AUTH_TOKEN", ""),
        sms_from_number=_env("SMS_FROM_NUMBER", ""),
        sms_timeout_seconds=_env_int("SMS_TIMEOUT_SECONDS", Settings.sms_timeout_seconds),
        reminder_offsets_minutes=offsets,
        scheduler_in_app=_env_bool("SCHEDULER_IN_APP", Settings.scheduler_in_app),
        outbox_batch_size=_env_int("OUTBOX_BATCH_SIZE", Settings.outbox_batch_size),
        scheduler_tick_seconds=_bounded_int(
            "SCHEDULER_TICK_SECONDS", Settings.scheduler_tick_seconds, 1, 3600
        ),
        outbox_lease_seconds=_bounded_int(
            "OUTBOX_LEASE_SECONDS", Settings.outbox_lease_seconds, 10, 3600
        ),
        session_idle_minutes_patient=_env_int(
            "SESSION_IDLE_MINUTES_PATIENT", Settings.session_idle_minutes_patient
        ),
        session_idle_minutes_staff=_env_int(
            "SESSION_IDLE_MINUTES_STAFF", Settings.session_idle_minutes_staff
        ),
        session_absolute_hours=_env_int("SESSION_ABSOLUTE_HOURS", Settings.session_absolute_hours),
        confirm_token_hours=_env_int("CONFIRM_TOKEN_HOURS", Settings.confirm_token_hours),
        reset_token_minutes=_env_int("RESET_TOKEN_MINUTES", Settings.reset_token_minutes),
        change_email_token_hours=_env_int(
            "CHANGE_EMAIL_TOKEN_HOURS", Settings.change_email_token_hours
        ),
        login_max_failures_per_hour=_env_int(
            "LOGIN_MAX_FAILURES_PER_HOUR", Settings.login_max_failures_per_hour
        ),
        login_free_failures=_env_int("LOGIN_FREE_FAILURES", Settings.login_free_failures),
        login_max_delay_seconds=_env_int(
            "LOGIN_MAX_DELAY_SECONDS", Settings.login_max_delay_seconds
        ),
        client_max_failures_per_hour=_env_int(
            "CLIENT_MAX_FAILURES_PER_HOUR", Settings.client_max_failures_per_hour
        ),
        email_requests_per_address_per_hour=_env_int(
            "EMAIL_REQUESTS_PER_ADDRESS_PER_HOUR", Settings.email_requests_per_address_per_hour
        ),
        email_requests_per_client_per_hour=_env_int(
            "EMAIL_REQUESTS_PER_CLIENT_PER_HOUR", Settings.email_requests_per_client_per_hour
        ),
        login_alert_failures=_env_int("LOGIN_ALERT_FAILURES", Settings.login_alert_failures),
        cors_allowed_origins=origins,
        video_room_base_url=_env("VIDEO_ROOM_BASE_URL", Settings.video_room_base_url),
        availability_horizon_days=_env_int(
            "AVAILABILITY_HORIZON_DAYS", Settings.availability_horizon_days
        ),
        max_future_appointments=_env_int(
            "MAX_FUTURE_APPOINTMENTS", Settings.max_future_appointments
        ),
        booking_attempts_per_hour=_env_int(
            "BOOKING_ATTEMPTS_PER_HOUR", Settings.booking_attempts_per_hour
        ),
        **_file_settings(),
        **_microsoft_settings(),
        **_maps_settings(),
        reflex_redis_url=os.environ.get("REFLEX_REDIS_URL", "").strip(),
        db_pool_size=_bounded_int("DB_POOL_SIZE", Settings.db_pool_size, 1, 500),
        db_max_overflow=_bounded_int("DB_MAX_OVERFLOW", Settings.db_max_overflow, 0, 500),
        service_threads=_bounded_int("SERVICE_THREADS", Settings.service_threads, 1, 64),
        state_expiry_minutes=_env_int("STATE_EXPIRY_MINUTES", Settings.state_expiry_minutes),
    )


def _maps_settings() -> dict[str, Any]:
    """Google Maps (issue 14)."""
    server_key = os.environ.get("GOOGLE_MAPS_SERVER_KEY", "").strip()
    if server_key and not server_key.startswith("AIza"):
        raise ValueError("GOOGLE_MAPS_SERVER_KEY is not a Google API key (they start with AIza)")
    radius = _env_int("PHARMACY_RADIUS_METERS", Settings.pharmacy_radius_meters)
    if not 100 <= radius <= 50_000:
        raise ValueError("PHARMACY_RADIUS_METERS must be between 100 and 50000")
    return dict(
        google_maps_server_key=server_key,
        google_maps_embed_key=_env("GOOGLE_MAPS_EMBED_KEY", ""),
        google_maps_base_url=_env("GOOGLE_MAPS_BASE_URL", Settings.google_maps_base_url).rstrip(
            "/"
        ),
        google_maps_retry_timeout_seconds=_env_int(
            "GOOGLE_MAPS_RETRY_TIMEOUT_SECONDS", Settings.google_maps_retry_timeout_seconds
        ),
        google_maps_timeout_seconds=_env_int(
            "GOOGLE_MAPS_TIMEOUT_SECONDS", Settings.google_maps_timeout_seconds
        ),
        pharmacy_radius_meters=radius,
    )


def _microsoft_settings() -> dict[str, Any]:
    """Microsoft 365 connection (issue 13)."""
    client_id = _env("MICROSOFT_CLIENT_ID", "")
    secret = os.environ.get("MICROSOFT_CLIENT_SECRET", "").strip()
    keys = tuple(
        k.strip() for k in os.environ.get("MICROSOFT_TOKEN_KEYS", "").split(",") if k.strip()
    )
    if client_id and secret and not keys:
        raise ValueError(
            "MICROSOFT_TOKEN_KEYS must be set when MICROSOFT_CLIENT_ID is: tokens are stored "
            "encrypted (generate one with `health-app new-token-key`)"
        )
    if any(len(k) < 32 for k in keys):
        raise ValueError("MICROSOFT_TOKEN_KEYS: each key must be at least 32 characters")
    tenant = _env("MICROSOFT_TENANT", Settings.microsoft_tenant)
    if not tenant or "/" in tenant:
        raise ValueError(f"MICROSOFT_TENANT must be a tenant id or name, got {tenant!r}")
    return dict(
        microsoft_client_id=client_id,
        microsoft_client_secret=secret,
        microsoft_tenant=tenant,
        microsoft_authority_host=_env(
            "MICROSOFT_AUTHORITY_HOST", Settings.microsoft_authority_host
        ).rstrip("/"),
        microsoft_graph_base_url=_env(
            "MICROSOFT_GRAPH_BASE_URL", Settings.microsoft_graph_base_url
        ).rstrip("/"),
        microsoft_redirect_uri=_env("MICROSOFT_REDIRECT_URI", ""),
        microsoft_token_keys=keys,
        microsoft_ca_bundle=_env("MICROSOFT_CA_BUNDLE", ""),
        microsoft_timeout_seconds=_env_int(
            "MICROSOFT_TIMEOUT_SECONDS", Settings.microsoft_timeout_seconds
        ),
        outlook_busy_refresh_minutes=_env_int(
            "OUTLOOK_BUSY_REFRESH_MINUTES", Settings.outlook_busy_refresh_minutes
        ),
    )


def _file_settings() -> dict[str, Any]:
    """Storage backend and upload limits (issue 5)."""
    backend = _env("STORAGE_BACKEND", Settings.storage_backend)
    if backend not in {"local", "azure"}:
        raise ValueError(f"STORAGE_BACKEND must be 'local' or 'azure', got {backend!r}")
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
    account = _env("AZURE_STORAGE_ACCOUNT", "")
    key = os.environ.get("AZURE_STORAGE_KEY", "").strip()
    if backend == "azure" and not conn and not (account and key):
        raise ValueError(
            "STORAGE_BACKEND=azure needs AZURE_STORAGE_CONNECTION_STRING, "
            "or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY"
        )
    link_seconds = _env_int("FILE_LINK_SECONDS", Settings.file_link_seconds)
    if not 1 <= link_seconds <= 300:
        raise ValueError("FILE_LINK_SECONDS must be between 1 and 300 (links live <= 5 minutes)")
    mib = 1024 * 1024
    values: dict[str, Any] = dict(
        storage_backend=backend,
        files_dir=_env("FILES_DIR", Settings.files_dir),
        public_files_dir=_env("PUBLIC_FILES_DIR", Settings.public_files_dir),
        file_link_secret=os.environ.get("FILE_LINK_SECRET", "").strip(),
        file_link_seconds=link_seconds,
        azure_storage_connection_string=conn,
        azure_storage_account=account,
        azure_storage_key=key,
        azure_storage_endpoint=_env("AZURE_STORAGE_ENDPOINT", "").rstrip("/"),
        azure_private_container=_env("AZURE_PRIVATE_CONTAINER", Settings.azure_private_container),
        azure_public_container=_env("AZURE_PUBLIC_CONTAINER", Settings.azure_public_container),
        azure_public_base_url=_env("AZURE_PUBLIC_BASE_URL", "").rstrip("/"),
        storage_block_bytes=_env_int("STORAGE_BLOCK_KB", Settings.storage_block_bytes // 1024)
        * 1024,
        file_max_bytes=_env_int("FILE_MAX_MB", Settings.file_max_bytes // mib) * mib,
        visit_files_max_bytes=_env_int("VISIT_FILES_MAX_MB", Settings.visit_files_max_bytes // mib)
        * mib,
        files_per_upload=_env_int("FILES_PER_UPLOAD", Settings.files_per_upload),
        image_max_pixels=_env_int("IMAGE_MAX_PIXELS", Settings.image_max_pixels),
        file_purge_days=_env_int("FILE_PURGE_DAYS", Settings.file_purge_days),
    )
    for name in ("storage_block_bytes", "file_max_bytes", "visit_files_max_bytes"):
        if values[name] <= 0:
            raise ValueError(f"{name} must be positive")
    return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def production_problems(settings: Settings) -> list[str]:
    """Development defaults that must not serve real patients (DEV_MODE=false): each is
    fine on a laptop and unsafe or loses messages in a clinic. Empty in development."""
    if settings.dev_mode:
        return []
    problems: list[str] = []
    if settings.mail_backend == "dev":
        problems.append(
            "MAIL_BACKEND=dev keeps every email in the development mailbox, which production "
            "does not show: set MAIL_BACKEND=smtp and SMTP_HOST"
        )
    if "*" in settings.cors_allowed_origins:
        problems.append(
            "CORS_ALLOWED_ORIGINS=* lets any web site open the event socket: list the "
            "address people use (PUBLIC_BASE_URL)"
        )
    if not settings.https and not is_loopback_url(settings.public_base_url):
        problems.append(
            f"PUBLIC_BASE_URL {settings.public_base_url!r} is not https: sessions and links "
            "would travel in clear text"
        )
    if settings.storage_backend == "local" and len(settings.file_link_secret) < 32:
        problems.append(
            "FILE_LINK_SECRET is not set (32 characters or more; `health-app new-token-key` "
            "prints one): links to patient files are signed with it, the same on every worker"
        )
    workers = worker_count()
    several = bool(settings.reflex_redis_url) or workers > 1
    if settings.database_url.startswith("sqlite") and several:
        problems.append(
            "SQLite serves one worker, but REFLEX_REDIS_URL or WEB_CONCURRENCY asks for "
            "several: use PostgreSQL (DATABASE_URL=postgresql://...)"
        )
    problems.extend(worker_problems(settings))
    return problems


def worker_count() -> int:
    """WEB_CONCURRENCY: the number of worker processes `health-app serve` starts (the
    variable uvicorn and gunicorn read)."""
    return _env_int("WEB_CONCURRENCY", 1)


def worker_problems(settings: Settings) -> list[str]:
    """Several workers without Redis would each keep their own tab states: a reload landing
    on another worker would lose the page (true in development too)."""
    if worker_count() > 1 and not settings.reflex_redis_url:
        return [
            "WEB_CONCURRENCY asks for several workers, but REFLEX_REDIS_URL is not set: "
            "the workers share tab states through Redis"
        ]
    return []


def refuse_unsafe_production(settings: Settings) -> None:
    """Stop a production start that still has development defaults, saying each one."""
    problems = production_problems(settings)
    if problems:
        raise SystemExit(
            "Health App will not start in production (DEV_MODE=false) with development "
            "defaults:\n" + "\n".join(f"  - {p}" for p in problems)
        )
