"""The one way a change is made.

    route -> command -> CommandBus.dispatch -> its handler -> Statement
          -> the write lane (infra/database.py: batched, one transaction) -> Committed
          -> the bus's subscribers (the read side: queries/follow.py) -> back to the route

A handler is a plain function named after its command (`create_application(cmd)`),
registered with `@handles(CreateApplication)`. It returns the command as one SQL statement
whose outcome is the committed event (infra/events.py), or a domain error (commands/errors.py)
when nothing could change. The database records every change itself (revision, version,
feed entry, announcement: migrations/0003), so no handler repeats that. The bus binds the
caller (actor, request id, application limit) to the statement, and hands each committed
event to its subscribers before the route answers, so that a read that follows the answer on
this instance sees the write.

Adding a write: a command (frozen dataclass) and its handler in a module of this package,
and the route that dispatches it. Nothing else.

A command that changes a document or a schema also has a guard (`@guards`, commands/
validation.py): the bus validates before the statement, and the handler takes the
expectation (`Expect`) its statement checks atomically with the write; when that statement
finds another state (`Recheck`), the bus validates that and runs the command again.
"""

from collections.abc import Callable

from psycopg2.extensions import cursor as Cursor

from commands.errors import Conflict
from commands.validation import MAX_ROUNDS, Expect, Recheck, Validation
from infra.database import Database
from infra.events import Committed
from infra.writes import ANYONE, Caller, Statement, execute_batch

Handler = Callable[..., Statement]
Subscriber = Callable[[Committed], None]

HANDLERS: dict[type, Handler] = {}


def handles(command_type: type) -> Callable[[Handler], Handler]:
    """Registers the decorated function as the handler of `command_type`."""

    def register(handler: Handler) -> Handler:
        if command_type in HANDLERS:
            raise TypeError(f"{command_type.__name__} already has a handler: {HANDLERS[command_type].__name__}")
        HANDLERS[command_type] = handler
        return handler

    return register


def statement_of(command: object, expect: Expect | None = None) -> Statement:
    """The command as its handler writes it (a handler may refuse it here: InvalidCommand);
    a guarded command's statement checks `expect` (commands/validation.py)."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"no handler for {type(command).__name__}: register one with @handles")
    return handler(command) if expect is None else handler(command, expect)


def _too_busy(command: object) -> Conflict:
    return Conflict(f"{type(command).__name__}: what it was validated against kept changing meanwhile; try again")


class CommandBus:
    def __init__(self, db: Database, validation: Validation | None = None) -> None:
        self._db = db
        self._subscribers: list[Subscriber] = []
        self.validation = validation or Validation()

    def subscribe(self, subscriber: Subscriber) -> None:
        """`subscriber(event)` runs for every change this bus commits, before its caller hears."""
        self._subscribers.append(subscriber)

    async def dispatch(self, command: object, caller: Caller = ANYONE) -> Committed:
        """Carry out `command` in the write lane; its committed event, or its domain error."""
        expect = self.validation.first(command)
        for _ in range(MAX_ROUNDS):
            try:
                committed = await self._db.write(statement_of(command, expect), caller)
            except Recheck as recheck:
                expect = self.validation.again(command, recheck.state)
                continue
            self.validation.held(command, expect, committed)
            self._publish(committed)
            return committed
        raise _too_busy(command)

    def run(self, command: object, caller: Caller = ANYONE) -> Committed:
        """`dispatch`, in the calling thread, in a transaction of its own."""
        expect = self.validation.first(command)
        for _ in range(MAX_ROUNDS):
            try:
                committed = self._db.run_write(statement_of(command, expect), caller)
            except Recheck as recheck:
                expect = self.validation.again(command, recheck.state)
                continue
            self.validation.held(command, expect, committed)
            self._publish(committed)
            return committed
        raise _too_busy(command)

    def _publish(self, committed: Committed) -> None:
        for subscriber in self._subscribers:
            subscriber(committed)


def run_on(cur: Cursor, command: object, caller: Caller = ANYONE) -> Committed:
    """`command` on a connection of the caller's own (the command-line tools), in a transaction
    of its own; no subscriber hears of it here, the database announces it to the instances."""
    validation = Validation()
    expect = validation.first(command)
    for _ in range(MAX_ROUNDS):
        ((committed, error),) = execute_batch(cur, [(statement_of(command, expect), caller)])
        if isinstance(error, Recheck):
            expect = validation.again(command, error.state)
            continue
        if error is not None:
            raise error
        return committed
    raise _too_busy(command)
