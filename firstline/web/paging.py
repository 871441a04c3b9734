"""A paginator that counts at most a bound, so a page costs the same at any backlog.

Django's Paginator counts every matching row (at 130k active tickets the count alone
outweighs the page). This one counts at most `bound` rows past the page asked for
(`SELECT COUNT(*) FROM (... LIMIT n)`, which walks the same index as the page): below the
bound the total is exact; above it the page says "more than N" and «Next» stays, so every
ticket is still reachable page after page.
"""

from functools import cached_property

from django.conf import settings
from django.core.paginator import Page, Paginator


class BoundedPaginator(Paginator):
    def __init__(self, object_list, per_page: int, *, bound: int | None = None) -> None:
        super().__init__(object_list, per_page)
        self.bound = bound if bound is not None else getattr(
            settings, "FIRSTLINE_QUEUE_COUNT_BOUND", 1000)
        self.capped = False

    def get_page(self, number: object) -> Page:
        try:
            asked = int(str(number))
        except (TypeError, ValueError):
            asked = 1
        # Count far enough to know whether a page follows the one asked for.
        self.bound = max(self.bound, asked * self.per_page)
        return super().get_page(number)

    @cached_property
    def count(self) -> int:
        found = self.object_list.order_by()[: self.bound + 1].count()
        self.capped = found > self.bound
        return found
