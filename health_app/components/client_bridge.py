"""The page side of `state/client.py`: compiled hooks that show toasts and clear file
pickers when the server changes `ClientState`, so no script ever comes from the server."""

from __future__ import annotations

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_components_sonner.toast import toast_ref

from health_app.state.client import ClientState

_CLEAR_FILES = "refs['__clear_selected_files']"
# Each action runs once per change of its serial. The last seen serial lives on `window`,
# which outlives the page's components when another page opens in the app (the bridge of
# the new page must not repeat the toast the old one showed); a full load starts from
# what the state holds then, without repeating it.
_FRESH = """const _haFresh = (name, serial, hydrated) => {
  if (!hydrated) return false;
  const seen = (window.__haSeen ??= {});
  if (seen[name] === undefined) { seen[name] = serial; return false; }
  if (serial > seen[name]) { seen[name] = serial; return true; }
  return false;
};"""


def _hook(code: str, *vars_used: Var) -> Var:
    data = VarData.merge(
        *(v._get_all_var_data() for v in vars_used),
        toast_ref._get_all_var_data(),
        VarData(imports={"react": ["useEffect"]}),
    )
    return Var(_js_expr=code, _var_data=data)


class ClientBridge(rx.Fragment):
    """Renders nothing; its hooks act on ClientState changes."""

    def add_hooks(self) -> list[str | Var]:
        s = ClientState
        # Before the page has its state from the server, serials are defaults, not news.
        hydrated = rx.State.is_hydrated
        toast = _hook(
            f"""useEffect(() => {{
  if (_haFresh("toast", {s.toast_serial}, {hydrated}) && {toast_ref}) {{
    ({toast_ref}[{s.toast_level}] ?? {toast_ref})({s.toast_text});
  }}
}}, [{s.toast_serial}, {hydrated}]);""",
            hydrated,
            s.toast_serial,
            s.toast_level,
            s.toast_text,
        )
        clear = _hook(
            f"""useEffect(() => {{
  if (_haFresh("clear", {s.clear_serial}, {hydrated})) {{ {_CLEAR_FILES}?.({s.clear_upload}); }}
}}, [{s.clear_serial}, {hydrated}]);""",
            hydrated,
            s.clear_serial,
            s.clear_upload,
        )
        return [_FRESH, toast, clear]


def client_bridge() -> rx.Component:
    return ClientBridge.create()
