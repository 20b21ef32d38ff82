"""Field groups that registration, the doctor application and the profile share.

Each takes the form's errors and `value(name)`, the field's starting value (None for none),
so the same fields read the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.vars.base import Var

from health_app.components.forms import select_field, text_field
from health_app.services.validation import PROVINCES

Value = Callable[[str], Any]


def address_fields(
    errors: Var, value: Value, *, prefix: str = "", street_label: str = "Street address"
) -> list[rx.Component]:
    """Street, city, province, postal code; `prefix="clinic_"` for a doctor's clinic."""
    return [
        text_field(
            street_label,
            f"{prefix}address_line",
            errors,
            autocomplete="street-address",
            default_value=value(f"{prefix}address_line"),
        ),
        text_field(
            "City",
            f"{prefix}city",
            errors,
            autocomplete="address-level2",
            default_value=value(f"{prefix}city"),
        ),
        select_field(
            "Province",
            f"{prefix}province",
            list(PROVINCES),
            errors,
            default_value=value(f"{prefix}province"),
        ),
        text_field(
            "Postal code",
            f"{prefix}postal_code",
            errors,
            autocomplete="postal-code",
            default_value=value(f"{prefix}postal_code"),
        ),
    ]


def health_card_fields(errors: Var, value: Value) -> list[rx.Component]:
    return [
        text_field(
            "Health card number",
            "health_card_number",
            errors,
            hint="As printed on the card, like 1234-567-897-AB (10 digits and the version code).",
            default_value=value("health_card_number"),
        ),
        text_field(
            "Health card expiry date",
            "health_card_expiry",
            errors,
            type="date",
            default_value=value("health_card_expiry"),
        ),
    ]


def clinic_fields(errors: Var, value: Value) -> list[rx.Component]:
    return [
        text_field(
            "Clinic name",
            "clinic_name",
            errors,
            autocomplete="organization",
            default_value=value("clinic_name"),
        ),
        *address_fields(errors, value, prefix="clinic_", street_label="Clinic street address"),
    ]
