"""Every URL of the app, in one place. Pages and states link with these, never with literals."""

from __future__ import annotations

from typing import Final

HOME: Final = "/"
ABOUT: Final = "/about"
LOGIN: Final = "/login"
REGISTER: Final = "/register"
REGISTER_DONE: Final = "/register/check-email"
APPLY: Final = "/apply"
CONFIRM: Final = "/confirm"
CONFIRM_EMAIL_CHANGE: Final = "/confirm-email-change"
FORGOT_PASSWORD: Final = "/forgot-password"
RESET_PASSWORD: Final = "/reset-password"
DASHBOARD: Final = "/dashboard"
PROFILE: Final = "/profile"
ADMIN_APPLICATIONS: Final = "/admin/applications"
ADMIN_USERS: Final = "/admin/users"
DEV_MAILBOX: Final = "/dev/mailbox"
NOT_FOUND: Final = "404"
FIND_DOCTOR: Final = "/find"
PHARMACY: Final = "/pharmacy"  # the pharmacy finder (patients)
DOCTOR: Final = "/doctor"  # ?doctor=ID[&reschedule=VISIT_ID]
AVAILABILITY: Final = "/availability"
VISIT: Final = "/visit"  # ?id=VISIT_ID
VISIT_PRINT: Final = "/visit/print"  # ?id=VISIT_ID: a clean prescription page
ADMIN_AUDIT: Final = "/admin/audit"
ADMIN_FILES: Final = "/admin/files"
ADMIN_MESSAGES: Final = "/admin/messages"
ADMIN_FIGURES: Final = "/admin/figures"
MY_RECORD_ACCESS: Final = "/my-record-access"
APPOINTMENTS: Final = "/appointments"
EXPORT: Final = "/export"
