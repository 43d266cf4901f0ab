"""Read-optimised projections, returned by the query functions and sent to clients as they are."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from infra.ids import UlidText


class ApplicationSummary(BaseModel):
    """One application in the list."""

    model_config = ConfigDict(frozen=True)

    id: UlidText
    name: str
    comments: str | None


class ApplicationView(ApplicationSummary):
    """An application with the ids of all its configurations, in id (creation) order."""

    configuration_ids: list[UlidText]


class ApplicationPage(BaseModel):
    """One page of the application list; `next_after` is set while more remain."""

    items: list[ApplicationSummary]
    next_after: UlidText | None


class ConfigurationView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UlidText
    application_id: UlidText
    name: str
    comments: str | None
    config: dict[str, Any]
