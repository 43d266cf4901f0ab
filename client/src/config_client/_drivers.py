"""The two drivers of the flows in `_protocol`: one blocking, one asyncio."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

import httpx

from config_client._protocol import Call, Flow, Notify, Sleep, T, Work

log = logging.getLogger("config_client")


def _request(http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
    headers = dict(call.headers or {})
    if call.body is not None:
        headers["Content-Type"] = call.content_type
    timeout: httpx.Timeout | None = None
    if call.read_timeout is not None:
        default = http.timeout
        timeout = httpx.Timeout(connect=default.connect, read=call.read_timeout, write=default.write, pool=default.pool)
    return http.build_request(
        call.method,
        call.path,
        params=call.params,
        headers=headers,
        content=call.body,
        timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
    )


def watch_ended(what: str, error: BaseException | None) -> BaseException:
    """Logs (as an error) that a watch ended on its own, which it never should: it retries
    every failure of the service until it is stopped. The reason, as an exception."""
    if error is None:
        error = RuntimeError("the watch ended")
    log.error(
        "watching %s stopped: %s: %s",
        what,
        type(error).__name__,
        error,
        exc_info=error,
        extra={"config_watch_ended": True},
    )
    return error


def _callback_failed(notify: Notify) -> None:
    log.exception("the on_change callback %r raised; the watch goes on", notify.callback)


def drive(flow: Flow[T], http: httpx.Client) -> T:
    """Runs a flow to its end, blocking."""
    try:
        instruction = next(flow)
        while True:
            outcome: Any = None
            if isinstance(instruction, Call):
                try:
                    outcome = http.send(_request(http, instruction))
                except httpx.RequestError as exc:  # no (readable) response: the flow decides
                    outcome = exc
            elif isinstance(instruction, Sleep):
                time.sleep(instruction.seconds)
            elif isinstance(instruction, Work):
                outcome = instruction.function()
            else:
                try:
                    instruction.callback(instruction.value)
                except Exception as exc:
                    _callback_failed(instruction)
                    outcome = exc
            instruction = flow.send(outcome)
    except StopIteration as stop:
        return stop.value
    finally:
        flow.close()


async def drive_async(flow: Flow[T], http: httpx.AsyncClient) -> T:
    """Runs a flow to its end on the running event loop; cancelling it stops the flow where
    it waits. A callback may be a plain function or return an awaitable."""
    try:
        instruction = next(flow)
        while True:
            outcome: Any = None
            if isinstance(instruction, Call):
                try:
                    outcome = await http.send(_request(http, instruction))
                except httpx.RequestError as exc:
                    outcome = exc
            elif isinstance(instruction, Sleep):
                await asyncio.sleep(instruction.seconds)
            elif isinstance(instruction, Work):
                outcome = await asyncio.to_thread(instruction.function)
            else:
                try:
                    result = instruction.callback(instruction.value)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    _callback_failed(instruction)
                    outcome = exc
            instruction = flow.send(outcome)
    except StopIteration as stop:
        return stop.value
    finally:
        flow.close()
