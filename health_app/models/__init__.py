"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from health_app.models.audit import AuditEvent, Outcome
from health_app.models.auth import (
    EmailToken,
    LoginFailure,
    LoginSession,
    RateEvent,
    TokenPurpose,
)
from health_app.models.files import FileStatus, VisitFile
from health_app.models.maps import GeocodeCache
from health_app.models.messaging import (
    Channel,
    DevMailboxMessage,
    OutboxLease,
    OutboxMessage,
    OutboxStatus,
)
from health_app.models.microsoft import (
    CalendarEvent,
    CalendarEventStatus,
    ConnectionStatus,
    MicrosoftConnection,
    MicrosoftSignIn,
    OutlookBusy,
)
from health_app.models.operations import SchedulerStatus
from health_app.models.scheduling import (
    Appointment,
    AppointmentStatus,
    Slot,
    SlotSource,
    SlotStatus,
    TimeOff,
    VisitFormat,
    WeeklyWindow,
)
from health_app.models.user import (
    ApprovalStatus,
    DoctorConsultationType,
    DoctorLanguage,
    DoctorProfile,
    PatientProfile,
    Role,
    User,
)
from health_app.models.visit_record import Prescription, VisitNote

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "ApprovalStatus",
    "AuditEvent",
    "CalendarEvent",
    "CalendarEventStatus",
    "Channel",
    "ConnectionStatus",
    "DevMailboxMessage",
    "DoctorConsultationType",
    "DoctorLanguage",
    "DoctorProfile",
    "EmailToken",
    "FileStatus",
    "GeocodeCache",
    "LoginFailure",
    "LoginSession",
    "MicrosoftConnection",
    "MicrosoftSignIn",
    "OutboxLease",
    "OutboxMessage",
    "OutboxStatus",
    "Outcome",
    "OutlookBusy",
    "PatientProfile",
    "Prescription",
    "RateEvent",
    "Role",
    "SchedulerStatus",
    "Slot",
    "SlotSource",
    "SlotStatus",
    "TimeOff",
    "TokenPurpose",
    "User",
    "VisitFile",
    "VisitFormat",
    "VisitNote",
    "WeeklyWindow",
]
