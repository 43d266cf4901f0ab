"""Which of the database's hosts to try first.

A DATABASE_URL may name several hosts (`postgresql://u@db1,db2/config?target_session_attrs=
read-write`): libpq tries them in the order given and keeps the first that answers as asked.
After a failover the first host may be the old primary, and if it vanished without a word
(a partition, a dead machine) every new connection would wait DB_CONNECT_TIMEOUT for it
before trying the next. So the host that last gave a good connection goes first: the pool
and the listener share one `Hosts`, and whichever finds the new primary first tells the other.
"""

import threading

from psycopg2.extensions import make_dsn, parse_dsn


class Hosts:
    def __init__(self, dsn: str) -> None:
        self._given = dsn
        self.dsn = dsn  # the DSN to connect with: the given one, its hosts reordered
        parts = parse_dsn(dsn)
        self._hosts = (parts.get("host") or "").split(",")
        ports = (parts.get("port") or "").split(",")
        # One port (or none) serves every host; otherwise each host has its own, in order.
        self._ports = ports if len(ports) == len(self._hosts) and len(ports) > 1 else None
        self._lock = threading.Lock()  # the pool's threads and the listener's may both tell

    def worked(self, host: str | None, port: int | str | None) -> None:
        """A connection to `host`:`port` (psycopg2's `conn.info`) was good: try it first."""
        if len(self._hosts) < 2 or host is None:
            return
        with self._lock:
            self._put_first(host, str(port))

    def _put_first(self, host: str, port: str) -> None:
        for index, name in enumerate(self._hosts):
            if name == host and (self._ports is None or self._ports[index] in ("", port)):
                break
        else:
            return  # not a host of ours by that name (an address libpq resolved, say)
        if index == 0:
            return
        self._hosts.insert(0, self._hosts.pop(index))
        changes = {"host": ",".join(self._hosts)}
        if self._ports is not None:
            self._ports.insert(0, self._ports.pop(index))
            changes["port"] = ",".join(self._ports)
        self.dsn = make_dsn(self._given, **changes)
