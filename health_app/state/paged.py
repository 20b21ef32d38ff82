"""Lists paginated in SQL: the page number, the page count, and a handler to move."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import reflex as rx

from health_app.page_loads import ends_page_load
from health_app.services.views import Page
from health_app.state.handlers import FormMixin, signed_in

V = TypeVar("V")
R = TypeVar("R")


def clamp_page(page: int, pages: int) -> int:
    return max(1, min(int(page), pages))


class PagedListMixin(FormMixin, mixin=True):
    """A state showing one page of a list as `rows`; `_refresh` loads the current page
    through one service call. The services decide (and audit) who may see the list."""

    page: int = 1
    pages: int = 1
    total: int = 0

    async def _refresh(self) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        """A fresh page open: clear the rows and whatever filters or dialogs the list has."""
        raise NotImplementedError

    def _paged(self, result: Page[V], to_row: Callable[[V], R]) -> list[R]:
        """The page's rows, keeping the counts for the pager."""
        self.total, self.pages = result.total, result.pages
        return [to_row(v) for v in result.items]

    @rx.event
    @ends_page_load
    @signed_in(reason="login")
    async def load(self) -> None:
        self.page = 1
        self._start()
        await self._refresh()

    @rx.event
    @signed_in()
    async def go_to_page(self, page: int) -> None:
        self.page = clamp_page(page, self.pages)
        await self._refresh()


class AdminListMixin(PagedListMixin, mixin=True):
    """An admin page's list: other roles go to the login page, as on every role-guarded
    page (the services refuse them too)."""

    def _page_roles(self) -> tuple[str, ...]:
        return ("admin",)
