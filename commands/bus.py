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

A command that writes a document says what it writes (`@seals`, commands/sealing.py): the
bus has it sealed before the statement, and the handler takes what the sealing step made
(`Written`), never the document in clear. After a change that marked pointers secret, the
bus seals them in the configuration's earlier versions too (commands/secret_keys.py), and
after a schema that marks properties secret, it adds them to the configuration's list.
"""

import contextlib
import logging
from collections.abc import Callable

from psycopg2.extensions import cursor as Cursor

from commands.errors import Conflict, InvalidCommand
from commands.sealing import MarkSecrets, NothingToMark, Sealing, Written
from commands.secret_keys import seal_versions
from commands.validation import MAX_ROUNDS, Expect, Recheck, Validation
from infra.database import Database
from infra.events import Committed
from infra.keyring import Keyring
from infra.writes import ANYONE, Caller, Statement, execute_batch

log = logging.getLogger(__name__)

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


def statement_of(command: object, expect: Expect | None = None, written: Written | None = None) -> Statement:
    """The command as its handler writes it (a handler may refuse it here: InvalidCommand);
    a guarded command's statement checks `expect` (commands/validation.py), a document
    write's writes what the sealing step made (`written`, commands/sealing.py)."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"no handler for {type(command).__name__}: register one with @handles")
    options: dict = {}
    if expect is not None:
        options["expect"] = expect
    if written is not None:
        options["written"] = written
    return handler(command, **options)


def _too_busy(command: object) -> Conflict:
    return Conflict(f"{type(command).__name__}: what it was validated against kept changing meanwhile; try again")


class CommandBus:
    def __init__(
        self,
        db: Database,
        validation: Validation | None = None,
        keyring: Keyring | None = None,
        secrets_hint: Callable[[str], tuple[str, ...] | None] | None = None,
    ) -> None:
        self._db = db
        self._subscribers: list[Subscriber] = []
        self.validation = validation or Validation(keyring=keyring)
        self.sealing = Sealing(keyring, secrets_hint)

    def subscribe(self, subscriber: Subscriber) -> None:
        """`subscriber(event)` runs for every change this bus commits, before its caller hears."""
        self._subscribers.append(subscriber)

    async def dispatch(self, command: object, caller: Caller = ANYONE) -> Committed:
        """Carry out `command` in the write lane; its committed event, or its domain error."""
        expect, written = self._first(command)
        for _ in range(MAX_ROUNDS):
            try:
                committed = await self._db.write(statement_of(command, expect, written), caller)
            except Recheck as recheck:
                expect, written = self._again(command, recheck.state)
                continue
            self._held(command, expect, committed)
            if written is not None and written.marked:
                await self._seal_versions(committed, written.marked, caller)
            marks = self.sealing.marks(command, committed)
            if marks:  # a schema marked properties secret: they join the list
                try:
                    await self.dispatch(MarkSecrets(committed.id, marks), caller)
                except NothingToMark:
                    pass
                except InvalidCommand as exc:  # no key here, say: the schema is set all the same
                    log.warning("configuration %s: schema marks %s secret, not marked: %s", committed.id, marks, exc)
            return committed
        raise _too_busy(command)

    def run(self, command: object, caller: Caller = ANYONE) -> Committed:
        """`dispatch`, in the calling thread, in a transaction of its own."""
        expect, written = self._first(command)
        for _ in range(MAX_ROUNDS):
            try:
                committed = self._db.run_write(statement_of(command, expect, written), caller)
            except Recheck as recheck:
                expect, written = self._again(command, recheck.state)
                continue
            self._held(command, expect, committed)
            if written is not None and written.marked:
                self._db.run_query(seal_versions, self.sealing.keyring, committed.id, written.marked, caller.actor)
            marks = self.sealing.marks(command, committed)
            if marks:
                with contextlib.suppress(NothingToMark):
                    self.run(MarkSecrets(committed.id, marks), caller)
            return committed
        raise _too_busy(command)

    def _first(self, command: object) -> tuple[Expect | None, Written | None]:
        return self.validation.first(command), self.sealing.first(command)

    def _again(self, command: object, state: dict) -> tuple[Expect, Written | None]:
        written = self.sealing.again(command, state)
        made = None if written is None else written.document
        secrets = () if written is None else written.secrets or ()
        return self.validation.again(command, state, made, secrets), written

    def _held(self, command: object, expect: Expect | None, committed: Committed) -> None:
        self.validation.held(command, expect, committed)
        self.sealing.held(command, committed)
        self._publish(committed)

    async def _seal_versions(self, committed: Committed, marked: tuple[str, ...], caller: Caller) -> None:
        """The pointers a change marked, sealed in the configuration's earlier versions too.
        The change is committed whatever happens here: a failure is logged, and the next
        rotation (`pipenv run secrets rotate`) seals what was left."""
        try:
            await self._db.query(seal_versions, self.sealing.keyring, committed.id, marked, caller.actor)
        except Exception as exc:
            log.warning(
                "configuration %s: the pointers just marked secret are not sealed in its earlier versions yet (%s); "
                "`pipenv run secrets reencrypt` seals them",
                committed.id,
                exc,
            )

    def _publish(self, committed: Committed) -> None:
        for subscriber in self._subscribers:
            subscriber(committed)


def run_on(cur: Cursor, command: object, caller: Caller = ANYONE, keyring: Keyring | None = None) -> Committed:
    """`command` on a connection of the caller's own (the command-line tools), in a transaction
    of its own; no subscriber hears of it here, the database announces it to the instances."""
    validation, sealing = Validation(keyring=keyring), Sealing(keyring)
    expect, written = validation.first(command), sealing.first(command)
    for _ in range(MAX_ROUNDS):
        ((committed, error),) = execute_batch(cur, [(statement_of(command, expect, written), caller)])
        if isinstance(error, Recheck):
            written = sealing.again(command, error.state)
            made = None if written is None else written.document
            expect = validation.again(command, error.state, made, () if written is None else written.secrets or ())
            continue
        if error is not None:
            raise error
        if written is not None and written.marked:
            seal_versions(cur, keyring, committed.id, written.marked, caller.actor)
        return committed
    raise _too_busy(command)
