"""The ceiling: a trivial FastAPI route, served with the service's own uvicorn settings.

`python -m bench.ceiling PORT`
"""

import sys

import uvicorn
from fastapi import FastAPI

from api.__main__ import uvicorn_config
from infra.settings import Settings

app = FastAPI()


@app.get("/ping")
async def ping() -> dict:
    return {"status": "ok", "service": "ceiling"}


if __name__ == "__main__":
    settings = Settings(_env_file=None, port=int(sys.argv[1]))
    uvicorn.Server(uvicorn_config(app, settings)).run()
