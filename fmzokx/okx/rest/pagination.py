# -*- test-case-name: tests.okx.test_pagination -*-
"""
Complete lists from OKX's cursor-paged endpoints, or an error: never a silent truncation.

OKX pages newest-first lists with ``after=<cursor of the last item seen>`` and ``limit``.
:func:`walk_pages` follows those cursors to a short page, deduplicating by cursor (an
order can move between pages while the walk runs), and refuses to return a partial list
when a page fails, an item has no cursor, the cursor stops moving, or the page budget
runs out. It fetches each page through a callable, so it knows nothing of signing,
retries or HTTP (:meth:`fmzokx.okx.rest.client.OkxClient.paginate` passes its ``get``).

Every list read shares the docker call's read deadline (:mod:`fmzokx.deferreds`);
:func:`page_failed` words the error when a page fails, naming that deadline when it is
what ended the walk, for this walk and for the domain layer's own walks (order history,
candles).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from attrs import frozen

from fmzokx.okx.errors import OkxError, OkxPaginationError, OkxTimeout
from fmzokx.okx.rest.reply import OkxReply

__all__ = ["GetPage", "PageWalk", "cursor_of", "page_failed", "walk_pages"]

#: Fetches one page: ``get_page(path, params)`` (retries are the callee's business).
GetPage = Callable[[str, Mapping[str, object]], Awaitable[OkxReply]]


@frozen
class PageWalk:
    """
    A complete paginated list.

    :ivar items: every item, newest first as OKX gives them, duplicates removed.
    :ivar pages: the raw envelopes, in the order fetched.
    """

    items: list[Any]
    pages: list[Mapping[str, Any]]


def cursor_of(row: object, cursor: str | int) -> str | None:
    """
    The cursor value of one item: field ``cursor`` of an object row, or element
    ``cursor`` of an array row (candles); ``None`` when it has none.
    """
    if isinstance(cursor, int):
        if isinstance(row, list) and len(row) > cursor:
            value = row[cursor]
        else:
            return None
    elif isinstance(row, Mapping):
        value = row.get(cursor)
    else:
        return None
    if value is None or value == "":
        return None
    return str(value)


def page_failed(
    path: str, error: OkxError, pages: list[Any], items: list[Any]
) -> OkxPaginationError:
    """
    The error for a list whose next page (after ``pages``) failed with ``error``: the list
    would be incomplete, so it is not returned. Raise it ``from error``.
    """
    if isinstance(error, OkxTimeout) and error.phase == "deadline":
        message = (
            f"GET {path}: could not fetch the whole list within {error.seconds:g} s "
            f"({len(pages)} pages read); refusing to return an incomplete list"
        )
    else:
        message = (
            f"GET {path}: page {len(pages) + 1} failed, so the list would be "
            f"incomplete: {error}"
        )
    return OkxPaginationError(message, path=path, pages=pages, items=items)


async def walk_pages(
    get_page: GetPage,
    path: str,
    params: Mapping[str, object],
    *,
    cursor: str | int,
    limit: int,
    max_pages: int,
) -> PageWalk:
    """
    Fetch every page of a newest-first list by walking ``after`` cursors.

    :raises OkxPaginationError: when any page fails (the failure is ``__cause__``),
        a page is malformed, the cursor stops moving, or ``max_pages`` pages did not
        reach the end. Never returns a partial list.
    """
    if limit < 1 or max_pages < 1:
        raise ValueError("limit and max_pages must be positive")
    items: list[Any] = []
    pages: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    after = params.get("after")
    after_text = None if after is None or after == "" else str(after)
    while True:
        if len(pages) >= max_pages:
            raise OkxPaginationError(
                f"GET {path}: stopped after {max_pages} pages without reaching the end "
                "of the list; refusing to return an incomplete list",
                path=path,
                pages=pages,
                items=items,
            )
        page_params = {k: v for k, v in params.items() if k not in ("after", "limit")}
        if after_text is not None:
            page_params["after"] = after_text
        page_params["limit"] = str(limit)
        try:
            reply = await get_page(path, page_params)
        except OkxError as error:
            raise page_failed(path, error, pages, items) from error
        pages.append(reply.payload)
        rows = reply.data
        last_cursor = None
        for row in rows:
            key = cursor_of(row, cursor)
            if key is None:
                raise OkxPaginationError(
                    f"GET {path}: page {len(pages)} has an item without cursor "
                    f"{cursor!r}; cannot continue the walk",
                    path=path,
                    pages=pages,
                    items=items,
                )
            last_cursor = key
            if key not in seen:
                seen.add(key)
                items.append(row)
        if len(rows) < limit or last_cursor is None:
            return PageWalk(items=items, pages=pages)
        if last_cursor == after_text:
            raise OkxPaginationError(
                f"GET {path}: the cursor did not advance past {last_cursor}; refusing to loop",
                path=path,
                pages=pages,
                items=items,
            )
        after_text = last_cursor
