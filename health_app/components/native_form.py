"""A form the browser submits itself (a real POST and page load), for login and logout:
Reflex's own form always stops the submission to turn it into an event."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_components_core.el.elements.base import BaseHTML
from reflex_components_core.el.elements.forms import Input


class NativeForm(BaseHTML):
    tag = "form"

    action: Var[str]
    method: Var[str]


class PageSite(Input):
    """A hidden `site` field holding the page's origin, filled in the browser once the
    field is on the page (a prerendered page cannot know where it is served from)."""

    def add_hooks(self) -> list[str | Var]:
        ref = self.get_ref()
        code = (
            f"useEffect(() => {{ if ({ref}?.current) "
            f"{ref}.current.value = window.location.origin; }}, []);"
        )
        return [Var(_js_expr=code, _var_data=VarData(imports={"react": ["useEffect"]}))]


def post_form(*children: rx.Component, action: str, form_id: str, **props: Any) -> rx.Component:
    """Posts to one of our HTTP routes, telling it the site this page came from so its
    answer returns here (pages and routes may be on different ports of one host)."""
    site = PageSite.create(type="hidden", name="site", id=f"{form_id}-site")
    return NativeForm.create(site, *children, action=action, method="post", id=form_id, **props)
