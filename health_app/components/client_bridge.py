"""The page side of `state/client.py`: compiled hooks that show toasts and clear file
pickers when the server changes `ClientState`, so no script ever comes from the server."""

from __future__ import annotations

import reflex as rx
from reflex.utils.imports import ImportVar
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


# Groups of many buttons (the days of a calendar, the times of a day) are one Tab stop:
# the chosen (or first) button takes focus, the arrow keys move within the group, Home and
# End go to its ends. Mark the group `data-roving` (with `data-columns`, for Up and Down)
# and each cell `data-cell`; cells that are not buttons are skipped.
_ROVING = Var(
    _js_expr="""useEffect(() => {
  const groups = () => document.querySelectorAll("[data-roving]");
  const buttons = (g) => Array.from(g.querySelectorAll("button[data-cell]"));
  const roam = () => groups().forEach((g) => {
    const all = buttons(g);
    const current = all.find((b) => b === document.activeElement)
      ?? all.find((b) => b.getAttribute("aria-pressed") === "true") ?? all[0];
    all.forEach((b) => { b.tabIndex = b === current ? 0 : -1; });
  });
  const onKey = (ev) => {
    const group = ev.target.closest?.("[data-roving]");
    if (!group) return;
    const cells = Array.from(group.querySelectorAll("[data-cell]"));
    const i = cells.indexOf(ev.target);
    if (i < 0) return;
    const cols = Number(group.dataset.columns || 1);
    const step = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols}[ev.key];
    let j = -1;
    if (step) {
      j = i + step;
      while (j >= 0 && j < cells.length && cells[j].tagName !== "BUTTON") j += step;
    } else if (ev.key === "Home" || ev.key === "End") {
      const all = buttons(group);
      j = cells.indexOf(ev.key === "Home" ? all[0] : all[all.length - 1]);
    } else {
      return;
    }
    ev.preventDefault();
    if (j < 0 || j >= cells.length) return;
    buttons(group).forEach((b) => { b.tabIndex = -1; });
    cells[j].tabIndex = 0;
    cells[j].focus();
  };
  document.addEventListener("keydown", onKey);
  const watch = new MutationObserver(roam);
  watch.observe(document.body, {subtree: true, childList: true, attributeFilter: ["aria-pressed"]});
  roam();
  return () => { document.removeEventListener("keydown", onKey); watch.disconnect(); };
}, []);""",
    _var_data=VarData(imports={"react": ["useEffect"]}),
)


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
        # After moving to another page within the app, focus its heading, as a full page
        # load would put a screen reader at the top; the first load keeps the browser's own.
        focus = Var(
            _js_expr="""const _haLocation = useLocation();
useEffect(() => {
  if (window.__haPath !== undefined && window.__haPath !== _haLocation.pathname) {
    document.getElementById("page-heading")?.focus();
  }
  window.__haPath = _haLocation.pathname;
}, [_haLocation.pathname]);""",
            _var_data=VarData(
                imports={
                    "react": ["useEffect"],
                    # Reflex's own router: already a dependency, nothing to install.
                    "react-router": [ImportVar(tag="useLocation", install=False)],
                }
            ),
        )
        return [_FRESH, toast, clear, focus, _ROVING]


def client_bridge() -> rx.Component:
    return ClientBridge.create()
