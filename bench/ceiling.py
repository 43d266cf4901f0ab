"""The ceiling: a trivial FastAPI route, served with the service's own uvicorn settings, as one
process or as workers on one port the way the service runs them (infra/workers.py).

`python -m bench.ceiling PORT [WORKERS]`
"""

import signal
import socket
import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from api.serving import exit_zero, uvicorn_config
from infra.settings import Settings
from infra.workers import Supervisor

app = FastAPI()


@app.get("/ping")
async def ping() -> dict:
    return {"status": "ok", "service": "ceiling"}


def serve_worker(index: int, sock: socket.socket, ready: Callable[[], None], settings: Settings) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_zero)
    ready()
    uvicorn.Server(uvicorn_config(app, settings)).run(sockets=[sock])


def main(port: int, workers: int) -> int:
    settings = Settings(_env_file=None, port=port, workers=workers)
    if workers == 1:
        uvicorn.Server(uvicorn_config(app, settings)).run()
        return 0
    sock = uvicorn_config(None, settings).bind_socket()
    try:
        return Supervisor(workers, sock, serve_worker, (settings,), stop_within=15).run()
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1))
