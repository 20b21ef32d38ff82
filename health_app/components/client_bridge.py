"""The page side of `state/client.py`: compiled hooks that show toasts and clear file
pickers when the server changes `ClientState`, so no script ever comes from the server."""

from __future__ import annotations

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_components_sonner.toast import toast_ref

from health_app.state.client import ClientState

_CLEAR_FILES = "refs['__clear_selected_files']"


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
        toast = _hook(
            f"""useEffect(() => {{
  if ({s.toast_serial} > 0 && {toast_ref}) {{
    ({toast_ref}[{s.toast_level}] ?? {toast_ref})({s.toast_text});
  }}
}}, [{s.toast_serial}]);""",
            s.toast_serial,
            s.toast_level,
            s.toast_text,
        )
        clear = _hook(
            f"""useEffect(() => {{
  if ({s.clear_serial} > 0) {{ {_CLEAR_FILES}?.({s.clear_upload}); }}
}}, [{s.clear_serial}]);""",
            s.clear_serial,
            s.clear_upload,
        )
        return [toast, clear]


def client_bridge() -> rx.Component:
    return ClientBridge.create()
