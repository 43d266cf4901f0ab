"""This instance's secret keys, kept current: read again when a rotation is announced, and
which ones it holds said in the database (`secret_key_holders`) at once and every
HEARTBEAT seconds, so that `pipenv run secrets rotate` knows when every instance running can
open what the new key seals. Both run in the database's upkeep lane (its own thread and
connection), which requests can neither fill nor delay. An instance with no key file says
nothing: it seals nothing (it refuses to), so no rotation waits for it.
"""

import asyncio
import contextlib
import logging

from commands.secret_keys import record_key_holder
from infra.database import Database
from infra.keyring import KeyFileError, Keyring
from queries.fleet import INSTANCE_ID

log = logging.getLogger("api")

HEARTBEAT = 15.0


class KeyHolder:
    def __init__(self, db: Database, keyring: Keyring, instance_id: str = INSTANCE_ID) -> None:
        self._db = db
        self._keyring = keyring
        self._instance = instance_id
        self._task: asyncio.Task | None = None

    @property
    def active(self) -> bool:
        return self._keyring.path is not None

    def start(self) -> None:
        if self.active:
            self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def reload(self) -> None:
        """A rotation was announced (from the listener's thread): read the file again."""
        if self.active:
            self._db.upkeep_in_thread(self._reload)

    def _reload(self) -> None:
        before = self._keyring.ids
        try:
            loaded = self._keyring.reload()
        except KeyFileError as exc:
            log.error("a new secret key was announced, but the key file cannot be read again: %s", exc)
            return
        added = [id for id in loaded if id not in before]
        log.info(
            "secret keys read again: %d loaded, sealing with %s%s",
            len(loaded),
            self._keyring.sealing_id,
            f" (new: {', '.join(added)})" if added else "",
        )
        try:
            self._db.run_query(record_key_holder, self._instance, self._keyring)
        except Exception as exc:  # the heartbeat says it within HEARTBEAT seconds
            log.info("could not say which secret keys this instance holds: %s", exc)

    async def _beat(self) -> None:
        while True:
            try:
                await self._db.upkeep(record_key_holder, self._instance, self._keyring)
            except Exception as exc:
                log.info("could not say which secret keys this instance holds: %s", exc)
            await asyncio.sleep(HEARTBEAT)
