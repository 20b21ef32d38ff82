"""Accessible form parts: labelled inputs with errors tied to them for screen readers."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars.base import Var

from health_app.state.forms import field_name

PASSWORD_HINT = "12 to 128 characters. A few unrelated words make a strong password."


def field_error(name: str, errors: Var) -> rx.Component:
    message = errors.get(name, "").to(str)
    return rx.cond(
        message != "",
        rx.text(message, id=f"{name}-error", color_scheme="red", size="2", role="alert"),
    )


def text_field(
    label: str,
    name: str,
    errors: Var,
    *,
    type: str = "text",
    autocomplete: str = "off",
    required: bool = True,
    hint: str = "",
    default_value: Any = None,
    **props: Any,
) -> rx.Component:
    """A labelled input; its error is announced and linked with aria-describedby."""
    described = f"{name}-error {name}-hint" if hint else f"{name}-error"
    extra = {"default_value": default_value} if default_value is not None else {}
    return rx.vstack(
        rx.el.label(label + ("" if required else " (optional)"), html_for=name, font_weight="500"),
        rx.input(
            id=name,
            name=name,
            type=type,
            auto_complete=autocomplete,
            required=required,
            aria_invalid=rx.cond(errors.get(name, "").to(str) != "", "true", "false"),
            aria_describedby=described,
            width="100%",
            size="3",
            **extra,
            **props,
        ),
        rx.cond(hint != "", rx.text(hint, id=f"{name}-hint", size="1", color_scheme="gray")),
        field_error(name, errors),
        spacing="1",
        width="100%",
        align="stretch",
    )


def select_field(
    label: str, name: str, options: list[str], errors: Var, *, default_value: Any = None
) -> rx.Component:
    extra = {"default_value": default_value} if default_value is not None else {}
    return rx.vstack(
        rx.el.label(label, html_for=name, font_weight="500"),
        rx.el.select(
            *[rx.el.option(o, value=o) for o in options],
            id=name,
            name=name,
            aria_describedby=f"{name}-error",
            style={"padding": "0.5em", "border_radius": "6px", "width": "100%"},
            **extra,
        ),
        field_error(name, errors),
        spacing="1",
        width="100%",
        align="stretch",
    )


def chips_field(
    legend: str,
    prefix: str,
    options: dict[str, str],
    errors: Var,
    error_name: str,
    checked: Var | None = None,
) -> rx.Component:
    """Checkbox chips in a fieldset; each box is named `prefix + code`."""
    boxes = []
    for code, text in options.items():
        extra = {"default_checked": checked.contains(code)} if checked is not None else {}
        boxes.append(
            rx.el.label(
                rx.el.input(
                    type="checkbox",
                    name=field_name(prefix, code),
                    id=field_name(prefix, code),
                    **extra,
                ),
                rx.text(text, as_="span", margin_left="0.35em"),
                display="inline-flex",
                align_items="center",
                padding="0.3em 0.7em",
                border="1px solid var(--gray-a6)",
                border_radius="999px",
                cursor="pointer",
            )
        )
    return rx.el.fieldset(
        rx.el.legend(legend, font_weight="500"),
        rx.flex(*boxes, wrap="wrap", spacing="2", padding_top="0.5em"),
        field_error(error_name, errors),
        aria_describedby=f"{error_name}-error",
        border="none",
        padding="0",
        margin="0",
    )


def submit(label: str, loading: Var, **props: Any) -> rx.Component:
    return rx.button(label, type="submit", loading=loading, size="3", **props)


def banner(message: Var, *, color: str = "red") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, color_scheme=color, role="alert", width="100%"),  # type: ignore[arg-type]
    )


def upload_field(*children: rx.Component, label: str, **props: Any) -> rx.Component:
    """`rx.upload` whose hidden file input is named for screen readers: Reflex creates that
    input itself, without a label."""
    upload = rx.upload(*children, **props)
    pending = list(upload.children)
    while pending:
        child = pending.pop()
        if getattr(child, "tag", "") == "input":
            child.custom_attrs["aria-label"] = label
            break
        pending.extend(child.children)
    return upload
