"""What the read model keeps of every application: its own fields, as its view's JSON in two
parts, from which its view and its bundle's head are put together without the database."""

from typing import NamedTuple

from queries.views import ApplicationRecord


class Record(NamedTuple):
    """An application's own fields as its view's JSON, in two parts: `head` (`{"id":..,"name":..,
    "comments":..,"version":N`, unclosed: a bundle's application is `head + b"}"`) and `times`
    (`,"created_at":..,"updated_at":..`), which its view puts before its configuration ids."""

    head: bytes
    times: bytes
    revision: int


def record_of(row: dict) -> Record:
    body = ApplicationRecord(**row).render()
    cut = body.rfind(b',"created_at":"')  # quotes inside JSON strings are escaped: only one
    return Record(body[:cut], body[cut:-1], row["revision"])
