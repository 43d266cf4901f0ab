"""Application views: one statement each, shaped for the reader."""

import pytest

from commands.applications import CreateApplication
from commands.configurations import CreateConfiguration
from queries.applications import get_application, list_applications
from queries.views import ApplicationView
from tests.support import perform


class CountingCursor:
    """Passes statements through to a real cursor, counting them."""

    def __init__(self, cur) -> None:
        self.cur = cur
        self.statements = 0

    def execute(self, sql, params=None):
        self.statements += 1
        return self.cur.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.cur, name)


def counted(fn):
    def run(cur, *args):
        counting = CountingCursor(cur)
        return fn(counting, *args), counting.statements

    return run


@pytest.fixture
def application(db, unique) -> dict:
    return perform(db, CreateApplication(unique("app"), "comments"))


def test_application_view_lists_its_configuration_ids_in_id_order_with_one_statement(db, application, unique):
    ids = [perform(db, CreateConfiguration(application["id"], unique(), {"n": n}))["id"] for n in range(5)]

    view, statements = db.run_query(counted(get_application), application["id"])

    assert view == ApplicationView(
        id=application["id"],
        name=application["name"],
        comments="comments",
        version=1,
        created_at=application["created_at"],
        updated_at=application["updated_at"],
        configuration_ids=sorted(ids),
        etag=view.etag,
    )
    assert statements == 1


def test_the_etag_is_the_one_the_write_side_answered_and_changes_with_the_configuration_ids(db, application, unique):
    assert db.run_query(get_application, application["id"]).etag == application["etag"]
    perform(db, CreateConfiguration(application["id"], unique(), {}))
    assert db.run_query(get_application, application["id"]).etag != application["etag"]


def test_application_without_configurations_has_an_empty_id_list(db, application):
    assert db.run_query(get_application, application["id"]).configuration_ids == []


def test_unknown_application_has_no_view(db):
    assert db.run_query(get_application, "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4") is None


def test_list_walks_every_application_in_id_order_page_by_page(db, unique):
    mine = [perform(db, CreateApplication(unique("listed")))["id"] for _ in range(7)]

    seen, after, pages = [], None, 0
    while True:
        page = db.run_query(list_applications, 3, after)
        pages += 1
        assert len(page.items) == 3 or page.next_after is None
        seen += [item.id for item in page.items]
        if page.next_after is None:
            break
        assert page.next_after == page.items[-1].id
        after = page.next_after

    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(mine) <= set(seen)
    assert pages >= 3


def test_list_page_after_the_last_id_is_empty_and_final(db, unique):
    perform(db, CreateApplication(unique()))
    last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
    page = db.run_query(list_applications, 10, last)
    assert page.items == [] and page.next_after is None


def test_list_by_offset_skips_that_many(db, unique):
    for _ in range(3):
        perform(db, CreateApplication(unique("offset")))
    first_three = db.run_query(list_applications, 3).items
    assert db.run_query(list_applications, 2, None, 1).items == first_three[1:]
