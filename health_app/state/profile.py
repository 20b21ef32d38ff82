"""The signed-in person's profile page: details, notifications, email and password."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from health_app.config import get_settings
from health_app.page_loads import ends_page_load
from health_app.services.accounts import profiles
from health_app.services.accounts.profiles import ProfileUpdate
from health_app.services.catalogue import consultation_types, languages
from health_app.services.files import doctor_photo
from health_app.services.files.doctor_photo import PHOTO_MAX_BYTES
from health_app.services.maps import embeds, geocoding
from health_app.services.microsoft import connections
from health_app.state.client import clear_selected_files, toast_success
from health_app.state.forms import chosen, form_text
from health_app.state.handlers import Events, FormMixin, signed_in
from health_app.state.links import photo_url

PHOTO_UPLOAD_ID = "doctor-photo"

_UPDATE_FIELDS = [
    f.name
    for f in dataclasses.fields(ProfileUpdate)
    if f.name not in {"consultation_types", "languages"}
]


_SOURCES = {
    "geocoded": "found from your address",
    "pin": "placed by you",
    "demo": "demo data",
}


def _location(where: geocoding.LocationView | None, view: profiles.ProfileView) -> dict[str, str]:
    if where is None:
        return {}
    doctor = view.role == "doctor"
    address = (
        f"{view.clinic_address_line}, {view.clinic_city}, {view.clinic_province} "
        f"{view.clinic_postal_code}"
        if doctor
        else f"{view.address_line}, {view.city}, {view.province} {view.postal_code}"
    )
    shown = embeds.clinic_map(
        get_settings(),
        name=view.clinic_name if doctor else "Your home",
        address=address,
        latitude=where.latitude,
        longitude=where.longitude,
    )
    return {
        "status": where.status,
        "source": _SOURCES.get(where.source, ""),
        "map_src": shown.src if where.latitude is not None else "",
        "map_label": shown.label,
        "directions": shown.directions,
        "address": address,
    }


class ProfileState(FormMixin, rx.State):
    loaded: bool = False
    role: str = ""
    email: str = ""
    pending_email: str = ""
    # Current values as text, for the form's defaults.
    values: dict[str, str] = {}
    consultation_types: list[str] = []
    languages: list[str] = []
    notify_email: bool = True
    notify_sms: bool = False
    # Patients only: the pharmacy that receives prescriptions ("" while none is chosen).
    pharmacy: dict[str, str] = {}
    # Doctors only: their public photo ("" if none).
    photo: str = ""
    # Microsoft 365: available ("yes"/""), status, name, email, teams ("yes"/"").
    microsoft: dict[str, str] = {}
    # On the map: status ("pending", "found", "not_found"), source words, map, directions.
    location: dict[str, str] = {}

    async def _refresh(self) -> None:
        page = await self._call(profiles.get_profile_page)
        view, ms = page.profile, page.microsoft
        self.location = _location(page.location, view)
        self.microsoft = {
            "available": "yes" if ms.available else "",
            "status": ms.status,
            "name": ms.display_name,
            "email": ms.email,
            "teams": "yes" if ms.teams else "",
        }
        self.role, self.email, self.pending_email = view.role, view.email, view.pending_email
        self.values = {
            k: "" if getattr(view, k, None) is None else str(getattr(view, k))
            for k in _UPDATE_FIELDS
        }
        self.consultation_types = list(view.consultation_types)
        self.languages = list(view.languages)
        self.notify_email, self.notify_sms = view.notify_email, view.notify_sms
        chosen_pharmacy = view.pharmacy
        self.pharmacy = {
            "pharmacy_name": chosen_pharmacy.name if chosen_pharmacy else "",
            "pharmacy_address": chosen_pharmacy.address if chosen_pharmacy else "",
            "pharmacy_phone": chosen_pharmacy.phone if chosen_pharmacy else "",
        }
        self.photo = photo_url(view.photo_blob)
        self.loaded = True

    @rx.event
    @ends_page_load
    @signed_in(reason="login")
    async def load(self) -> Events:
        self.loaded = False
        await self._refresh()
        # Back from connecting Microsoft 365: our callback says how it went, as a code.
        outcome = self.router.url.query_parameters.get("microsoft", "")
        if outcome == "connected" and self.microsoft.get("status") == "connected":
            return toast_success(f"Microsoft 365 is connected ({self.microsoft['email']}).")
        if outcome in connections.OUTCOMES and outcome != "connected":
            self.errors = {"microsoft": connections.OUTCOMES[outcome]}
        return None

    async def _saved(self, message: str) -> Events:
        await self._refresh()
        return toast_success(message)

    @rx.event
    @signed_in()
    async def save(self, form: dict[str, Any]) -> Events:
        update = ProfileUpdate(
            **{
                k: form_text(form, k) if k in form else self.values.get(k, "")
                for k in _UPDATE_FIELDS
            },
            consultation_types=chosen(form, "ctype_", consultation_types()),
            languages=chosen(form, "lang_", languages()),
        )
        await self._call(profiles.update_profile, form=update)
        return await self._saved("Your profile was saved.")

    @rx.event
    @signed_in()
    async def save_notifications(self, form: dict[str, Any]) -> Events:
        await self._call(
            profiles.set_notification_preferences,
            email_on=bool(form.get("notify_email")),
            sms_on=bool(form.get("notify_sms")),
        )
        return await self._saved("Notification preferences saved.")

    @rx.event
    @signed_in()
    async def save_pharmacy(self, form: dict[str, Any]) -> Events:
        name = form_text(form, "pharmacy_name")
        await self._call(
            profiles.set_pharmacy,
            name=name,
            address=form_text(form, "pharmacy_address"),
            phone=form_text(form, "pharmacy_phone"),
        )
        return await self._saved(
            "Your pharmacy was saved." if name else "Your pharmacy was removed."
        )

    @rx.event
    @signed_in()
    async def upload_photo(self, files: list[rx.UploadFile]) -> Events:
        if not files:
            self.errors = {"photo": "Choose a photo first."}
            return None
        # A photo is small (<= 10 MB, checked by the service): read it whole.
        data = await files[0].read(PHOTO_MAX_BYTES + 1)
        await self._call(doctor_photo.set_doctor_photo, data=data)
        await self._refresh()
        return [clear_selected_files(PHOTO_UPLOAD_ID), toast_success("Photo saved.")]

    @rx.event
    @signed_in()
    async def remove_photo(self) -> Events:
        await self._call(doctor_photo.remove_doctor_photo)
        return await self._saved("Photo removed.")

    @rx.event
    @signed_in("patient", "doctor")
    async def place_pin(self, form: dict[str, Any]) -> Events:
        lat, sep, lng = form_text(form, "pin").partition(",")
        try:
            latitude, longitude = float(lat), float(lng)
        except ValueError:
            self.errors = {"pin": "Type the place as latitude, longitude, e.g. 43.6426, -79.3871."}
            return None
        if not sep:
            self.errors = {"pin": "Type the place as latitude, longitude, e.g. 43.6426, -79.3871."}
            return None
        await self._call(geocoding.place_pin, latitude=latitude, longitude=longitude)
        return await self._saved("Your place on the map was saved.")

    @rx.event
    @signed_in("patient", "doctor")
    async def disconnect_microsoft(self) -> Events:
        await self._call(connections.disconnect)
        return await self._saved(
            "Microsoft 365 is disconnected. Visits already in your Outlook calendar stay there."
        )

    @rx.event
    @signed_in()
    async def cancel_email_change(self) -> Events:
        await self._call(profiles.cancel_email_change)
        return await self._saved("The pending email change was cancelled.")


class SecurityState(FormMixin, rx.State):
    """Password and email changes, each needing the current password."""

    @rx.event
    @signed_in()
    async def change_password(self, form: dict[str, Any]) -> Events:
        await self._call(
            profiles.change_password,
            current=form_text(form, "current_password"),
            new=form_text(form, "new_password"),
            new_confirm=form_text(form, "new_password_confirm"),
        )
        return [
            rx.set_value("current_password", ""),
            rx.set_value("new_password", ""),
            rx.set_value("new_password_confirm", ""),
            toast_success("Password changed. Your other sessions were logged out."),
        ]

    @rx.event
    @signed_in()
    async def change_email(self, form: dict[str, Any]) -> Events:
        await self._call(
            profiles.request_email_change,
            new_email=form_text(form, "new_email"),
            password=form_text(form, "email_password"),
        )
        profile = await self.get_state(ProfileState)
        await profile._refresh()
        return [
            rx.set_value("email_password", ""),
            toast_success("Check the new address for a confirmation link."),
        ]
