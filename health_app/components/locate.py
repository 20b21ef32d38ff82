"""'Use my location': the browser is asked for the position only when the person clicks.

The position is written into the form's place field as "lat,lng" and the form is sent, so
the page's own submit handler receives it like typed text; nothing runs through eval (the
Content-Security-Policy forbids it), and a refusal is said in the status line beside it.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_components_core.el.elements.forms import Button

_HOOK = """useEffect(() => {
  const el = REF?.current;
  if (!el) return;
  const say = (text) => { const s = document.getElementById(el.dataset.status); if (s) s.textContent = text; };
  const onClick = () => {
    if (!navigator.geolocation) { say("This browser cannot share a location. Type a postal code instead."); return; }
    say("Asking your browser for your location…");
    navigator.geolocation.getCurrentPosition(
      (p) => {
        el.form.elements[el.dataset.field].value = p.coords.latitude.toFixed(5) + "," + p.coords.longitude.toFixed(5);
        say("");
        el.form.requestSubmit();
      },
      () => say("Your location was not shared. Type a postal code instead."),
      { timeout: 10000, maximumAge: 600000 },
    );
  };
  el.addEventListener("click", onClick);
  return () => el.removeEventListener("click", onClick);
}, []);"""


class LocateButton(Button):
    def add_hooks(self) -> list[str | Var]:
        code = _HOOK.replace("REF", str(self.get_ref()))
        return [Var(_js_expr=code, _var_data=VarData(imports={"react": ["useEffect"]}))]


def locate_button(label: str, *, field: str, button_id: str, **props: Any) -> rx.Component:
    """A button filling the form field `field` with the browser's position, then sending."""
    status_id = f"{button_id}-status"
    return rx.fragment(
        LocateButton.create(
            label,
            type="button",
            id=button_id,
            custom_attrs={"data-field": field, "data-status": status_id},
            class_name="rt-reset rt-BaseButton rt-r-size-2 rt-variant-soft rt-Button",
            **props,
        ),
        rx.text("", id=status_id, role="status", size="2"),
    )
