"""Field groups shared by registration and profile editing, cleaned the same way in both.

Each function reads attributes by name from any form object and records every problem
on the Collector, returning the cleaned values keyed by model column.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from health_app.config import Settings
from health_app.services.catalogue import consultation_types, languages, specialties
from health_app.services.validation import (
    Collector,
    clean_choices,
    clean_date_of_birth,
    clean_health_card,
    clean_health_card_expiry,
    clean_long_text,
    clean_name,
    clean_phone,
    clean_postal_code,
    clean_province,
    clean_text,
    parse_date,
)


def clean_person(c: Collector, form: Any) -> dict[str, str]:
    """Names and phone, kept on the user row for every role."""
    return {
        "first_name": c.check("first_name", clean_name, form.first_name, label="First name"),
        "preferred_name": c.check(
            "preferred_name",
            clean_name,
            form.preferred_name,
            label="Preferred name",
            required=False,
        )
        or "",
        "last_name": c.check("last_name", clean_name, form.last_name, label="Last name"),
        "phone": c.check("phone", clean_phone, form.phone) or "",
    }


def clean_patient_details(
    c: Collector, form: Any, *, settings: Settings, today: date
) -> dict[str, Any]:
    """Date of birth, home address and health card: the patient profile's columns."""
    region = settings.region
    return {
        "date_of_birth": c.check(
            "date_of_birth",
            lambda: clean_date_of_birth(
                parse_date(form.date_of_birth, label="Date of birth"), today=today
            ),
        ),
        "address_line": c.check(
            "address_line", clean_text, form.address_line, label="Address", max_len=200
        ),
        "city": c.check("city", clean_text, form.city, label="City", max_len=100),
        "province": c.check("province", clean_province, form.province, region=region),
        "postal_code": c.check("postal_code", clean_postal_code, form.postal_code, region=region),
        "health_card_number": c.check(
            "health_card_number", clean_health_card, form.health_card_number
        ),
        "health_card_expiry": c.check(
            "health_card_expiry",
            lambda: clean_health_card_expiry(
                parse_date(form.health_card_expiry, label="Expiry date"), today=today
            ),
        ),
    }


def clean_practice(
    c: Collector, form: Any, *, settings: Settings
) -> tuple[dict[str, Any], list[str], list[str]]:
    """A doctor's practice: profile columns, consultation type codes and language codes."""
    region = settings.region
    specialty = (form.specialty or "").strip()
    if specialty not in specialties():
        c.add("specialty", "Choose a specialty from the list.")
    columns = {
        "qualifications": c.check(
            "qualifications",
            clean_long_text,
            form.qualifications,
            label="Qualifications",
            max_len=4000,
        ),
        "specialty": specialty,
        "clinic_name": c.check(
            "clinic_name", clean_text, form.clinic_name, label="Clinic name", max_len=200
        ),
        "clinic_address_line": c.check(
            "clinic_address_line",
            clean_text,
            form.clinic_address_line,
            label="Clinic address",
            max_len=200,
        ),
        "clinic_city": c.check(
            "clinic_city", clean_text, form.clinic_city, label="City", max_len=100
        ),
        "clinic_province": c.check(
            "clinic_province", clean_province, form.clinic_province, region=region
        ),
        "clinic_postal_code": c.check(
            "clinic_postal_code", clean_postal_code, form.clinic_postal_code, region=region
        ),
    }
    ctypes = c.check(
        "consultation_types",
        clean_choices,
        form.consultation_types,
        allowed=consultation_types(),
        label="Consultation type",
    )
    langs = c.check(
        "languages", clean_choices, form.languages, allowed=languages(), label="Language"
    )
    return columns, ctypes, langs
