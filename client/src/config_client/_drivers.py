"""The two drivers of the flows in `_protocol`: one blocking, one asyncio."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time

import httpx

from config_client._protocol import Call, Flow, Notify, Outcome, Sleep, T

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


def _callback_failed(notify: Notify) -> None:
    log.exception("the on_change callback %r raised; the watch goes on", notify.callback)


def drive(flow: Flow[T], http: httpx.Client) -> T:
    """Runs a flow to its end, blocking."""
    try:
        instruction = next(flow)
        while True:
            outcome: Outcome = None
            if isinstance(instruction, Call):
                try:
                    outcome = http.send(_request(http, instruction))
                except httpx.TransportError as exc:
                    outcome = exc
            elif isinstance(instruction, Sleep):
                time.sleep(instruction.seconds)
            else:
                try:
                    instruction.callback(instruction.value)
                except Exception:
                    _callback_failed(instruction)
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
            outcome: Outcome = None
            if isinstance(instruction, Call):
                try:
                    outcome = await http.send(_request(http, instruction))
                except httpx.TransportError as exc:
                    outcome = exc
            elif isinstance(instruction, Sleep):
                await asyncio.sleep(instruction.seconds)
            else:
                try:
                    result = instruction.callback(instruction.value)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    _callback_failed(instruction)
            instruction = flow.send(outcome)
    except StopIteration as stop:
        return stop.value
    finally:
        flow.close()
