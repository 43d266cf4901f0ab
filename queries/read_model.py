"""The read side as the API sees it: each view as ready-to-send JSON bytes."""

from pydantic import TypeAdapter

from infra.database import Database
from queries.applications import get_application, list_applications
from queries.configurations import get_configuration
from queries.views import ApplicationSummary

_SUMMARIES = TypeAdapter(list[ApplicationSummary])


class ReadModel:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def application(self, id: str) -> bytes | None:
        view = await self._db.query(get_application, id)
        return None if view is None else view.model_dump_json().encode()

    async def configuration(self, id: str) -> bytes | None:
        view = await self._db.query(get_configuration, id)
        return None if view is None else view.model_dump_json().encode()

    async def application_page(self, limit: int, after: str | None) -> tuple[bytes, str | None]:
        """A page of the list as a JSON array, and the id to continue after (None: last page)."""
        page = await self._db.query(list_applications, limit, after)
        return _SUMMARIES.dump_json(page.items), page.next_after

    def application_changed(self, id: str) -> None:
        """A write on this instance changed the application: later reads must see it."""

    def configuration_changed(self, id: str, application_id: str) -> None:
        """A write on this instance changed the configuration (and its application's ids)."""
