"""GET /metrics: every worker's metrics in Prometheus' text format (infra/metrics.py).

Read like any read route: with AUTH=tokens it needs a token with the read scope (the metrics
name no configuration, but they show the routes' traffic), unless METRICS_PUBLIC=true (the
port reachable by the scraper alone). What is sampled is registered by the app (api/app.py).
"""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import PUBLIC, needs
from api.routing import Route
from infra import metrics

METRICS_PATH = "/metrics"
DOCS = {
    200: {
        "description": "The metrics, in the Prometheus text exposition format",
        "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
    }
}


def metrics_router(public: bool) -> APIRouter:
    router = APIRouter(tags=["operations"], route_class=Route)

    @router.get(
        METRICS_PATH,
        response_class=Response,
        responses=DOCS,
        dependencies=PUBLIC if public else needs("read"),
        summary="Metrics of every worker, for Prometheus",
    )
    async def get_metrics(request: Request) -> Response:
        metrics.flush()  # this worker's counts, on the loop's thread that keeps them
        body = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return router
