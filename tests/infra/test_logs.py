"""LOG_FORMAT=json: one JSON object per line, with what a record carries."""

import json
import logging

from infra.logs import configure_logging


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_the_usual_fields_the_worker_and_an_access_lines_fields(capsys):
    try:
        configure_logging("INFO", "json", worker=1)
        logging.getLogger("api").warning("503 on %s", "/x")
        logging.getLogger("api.access").info(
            "an access line", extra={"request_id": "r-1", "route": "/api/v1/x/{id}", "status": 200, "duration_ms": 0.4}
        )
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("api").exception("failed")
        logging.getLogger("uvicorn.error").info("uvicorn's own")
        written = lines(capsys.readouterr().err)
    finally:
        configure_logging("INFO")
    warning, access, failure, uvicorn = written
    assert (warning["level"], warning["logger"], warning["message"], warning["worker"]) == (
        "WARNING",
        "api",
        "503 on /x",
        1,
    )
    assert warning["time"].endswith("+00:00")
    assert {key: access[key] for key in ("request_id", "route", "status", "duration_ms")} == {
        "request_id": "r-1",
        "route": "/api/v1/x/{id}",
        "status": 200,
        "duration_ms": 0.4,
    }
    assert "ValueError: boom" in failure["exception"]
    assert uvicorn["logger"] == "uvicorn.error"  # uvicorn's records reach the same handler, once


def test_text_lines_name_the_worker(capsys):
    try:
        configure_logging("INFO", "text", worker=0)
        logging.getLogger("api").info("hello")
        written = capsys.readouterr().err
    finally:
        configure_logging("INFO")
    assert "[worker 0] api: hello" in written
