"""Hostile input against the service as it runs in production (uvicorn, real sockets)."""

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.service_process import ServiceProcess

SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")
APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


@pytest.fixture(scope="module")
def service(database_url):
    with ServiceProcess(database_url=database_url) as running:
        yield running


def test_schemathesis_finds_no_5xx_and_no_schema_or_status_violation(service, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(SCHEMATHESIS_CONFIG),
            "run",
            f"{service.url}/openapi.json",
            "--seed",
            "20261126",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    assert result.returncode == 0, output[-5000:]
    assert generated and int(generated.group(1)) >= 1000, output[-2000:]
    print(f"\nschemathesis: {generated.group(0)}, exit status {result.returncode}")
    assert " 500 " not in service.log() and "Traceback" not in service.log()


def raw_post(service, path: str, head: bytes, body_chunks) -> bytes:
    """Sends a request by hand and returns everything the server answers."""
    host, port = "127.0.0.1", int(service.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and stopped reading: fine, if it did answer
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b'"request_id"' in received:
                break
        return received


def test_a_body_over_the_limit_gets_413_before_it_is_read(service):
    size = 8 * 1024 * 1024
    head = (
        f"POST {APPS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    answer = raw_post(service, APPS, head, [b'{"name": "' + b"x" * 65536])  # 64 KiB of the 8 MiB sent
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"code":"payload_too_large"' in answer


def test_a_chunked_body_over_the_limit_gets_413(service):
    head = (
        f"POST {APPS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    chunks = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(40)] + [b"0\r\n\r\n"]
    answer = raw_post(service, APPS, head.encode(), chunks)
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"name": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"name": "x", "comments": ' + "9" * 400 + "}",
        '{"name": "x"',
        "{'name': 'x'}",
        '{"name": "\\ud800"}',
        '{"name": "a\\u0000"}',
        "\x00\x01\x02",
    ],
)
def test_hostile_application_bodies_get_a_4xx_answer(service, body):
    response = httpx.post(f"{service.url}{APPS}", content=body.encode(), headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_deep_and_huge_configs_get_a_4xx_or_are_stored_exactly(service):
    app_id = httpx.post(f"{service.url}{APPS}", json={"name": "hostile-configs"}).json()["id"]
    deep = "[" * 5000 + "]" * 5000
    for config, expected in ((f'{{"a": {deep}}}', 422), ('{"n": ' + "7" * 400 + "}", 201)):
        raw = f'{{"application_id": "{app_id}", "name": "c{expected}", "config": {config}}}'
        response = httpx.post(f"{service.url}{CONFIGS}", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == expected, response.text
    stored = httpx.get(f"{service.url}{response.headers['location']}").json()
    assert stored["config"]["n"] == int("7" * 400)
