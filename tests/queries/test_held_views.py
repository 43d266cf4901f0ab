"""The held views' fills in flight: a change voids the fills of the pages it may change, and
finds them among its own kind alone (a burst of announcements leaves many configuration fills
in flight, which no change of a page must walk)."""

import asyncio

from queries.held_views import APPLICATION_PAGE, CONFIGURATION, CONFIGURATION_PAGE, HeldViews


def test_a_change_voids_the_fills_of_the_pages_it_may_change_and_only_those():
    async def scenario() -> None:
        views = HeldViews(max_bytes=1 << 20)
        loop = asyncio.get_running_loop()
        keys = [
            f"{CONFIGURATION}c1",
            f"{CONFIGURATION}c2",
            f"{APPLICATION_PAGE}limit=100",
            f"{CONFIGURATION_PAGE}app1:limit=100",
            f"{CONFIGURATION_PAGE}app2:limit=100",
        ]
        for key in keys:
            views.fills[key] = loop.create_future()
        assert views.fills.pages == set(keys[2:])

        views.forget_configuration_pages("app1")
        assert set(views.fills) == {*keys[:3], keys[4]}
        views.forget_list_pages()
        assert set(views.fills) == {*keys[:2], keys[4]}
        assert views.fills.pages == {keys[4]}

        views.end_fill(keys[4], views.fills[keys[4]])  # a fill that ends leaves the index too
        views.fills.pop(keys[0])
        del views.fills[keys[1]]
        assert dict(views.fills) == {} and views.fills.pages == set()

        views.fills[keys[2]] = loop.create_future()
        views.clear()
        assert views.fills.pages == set()

    asyncio.run(scenario())
