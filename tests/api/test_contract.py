"""What every client can rely on: one error shape, documented responses, request ids, races."""

import threading
from concurrent.futures import ThreadPoolExecutor

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"

EXPECTED_ERRORS = {
    ("post", APPS): {"409", "413", "415", "422", "503"},
    ("get", APPS): {"422", "503"},
    ("put", APPS + "/{id}"): {"404", "409", "412", "413", "415", "422", "503"},
    ("patch", APPS + "/{id}"): {"404", "409", "412", "413", "415", "422", "503"},
    ("delete", APPS + "/{id}"): {"404", "409", "412", "422", "503"},
    ("get", APPS + "/{id}"): {"404", "422", "503"},
    ("get", APPS + "/{id}/configurations"): {"404", "422", "503"},
    ("post", CONFIGS): {"409", "413", "415", "422", "503"},
    ("get", CONFIGS): {"404", "422", "503"},
    ("put", CONFIGS + "/{id}"): {"404", "409", "412", "413", "415", "422", "503"},
    ("patch", CONFIGS + "/{id}"): {"404", "409", "412", "413", "415", "422", "503"},
    ("delete", CONFIGS + "/{id}"): {"404", "409", "412", "422", "503"},
    ("get", CONFIGS + "/{id}"): {"404", "422", "503"},
    ("get", CONFIGS + "/{id}/versions"): {"404", "422", "503"},
    ("get", CONFIGS + "/{id}/versions/{version}"): {"404", "422", "503"},
    ("post", CONFIGS + "/{id}/versions/{version}/restore"): {"404", "409", "412", "422", "503"},
    ("post", CONFIGS + "/{id}/rollouts"): {"404", "409", "413", "415", "422", "503"},
    ("get", CONFIGS + "/{id}/rollouts"): {"404", "422", "503"},
    ("get", CONFIGS + "/{id}/rollouts/{rollout_id}"): {"404", "422", "503"},
    ("post", CONFIGS + "/{id}/rollouts/{rollout_id}/pause"): {"404", "409", "422", "503"},
    ("post", CONFIGS + "/{id}/rollouts/{rollout_id}/resume"): {"404", "409", "422", "503"},
    ("post", CONFIGS + "/{id}/rollouts/{rollout_id}/rollback"): {"404", "409", "422", "503"},
    ("post", CONFIGS + "/{id}/rollouts/{rollout_id}/promote"): {"404", "409", "422", "503"},
    ("get", CONFIGS + "/{id}/clients"): {"404", "422", "503"},
    ("get", APPS + "/{id}/clients"): {"404", "422", "503"},
    ("post", "/api/v1/config/{application_name}/{configuration_name}/reports"): {"404", "413", "415", "422", "503"},
    ("put", CONFIGS + "/{id}/schema"): {"404", "409", "412", "413", "415", "422", "503"},
    ("get", CONFIGS + "/{id}/schema"): {"404", "422", "503"},
    ("delete", CONFIGS + "/{id}/schema"): {"404", "412", "422", "503"},
    ("get", CONFIGS + "/{id}/schema/versions"): {"404", "422", "503"},
    ("get", CONFIGS + "/{id}/schema/versions/{version}"): {"404", "422", "503"},
    ("post", CONFIGS + "/{id}/schema/versions/{version}/restore"): {"404", "409", "412", "422", "503"},
    ("get", "/api/v1/changes"): {"422", "503"},
    ("get", "/api/v1/config/{application_name}"): {"404", "422", "503"},
    ("get", "/api/v1/config/{application_name}/{configuration_name}"): {"404", "422", "503"},
    ("get", "/api/v1/tokens"): {"503"},
    ("post", "/api/v1/tokens"): {"409", "413", "415", "422", "503"},
    ("get", "/api/v1/tokens/current"): set(),
    ("delete", "/api/v1/tokens/{id}"): {"404", "422", "503"},
}


def test_openapi_documents_every_endpoint_and_its_error_responses(client):
    spec = client.get("/openapi.json").json()
    operations = {(method, path): op for path, item in spec["paths"].items() for method, op in item.items()}

    for key, statuses in EXPECTED_ERRORS.items():
        responses = operations[key]["responses"]
        assert statuses <= set(responses), key
        for status in statuses:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (key, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # Every route is documented here (the probes and the metrics: tests/api/test_operations.py).
    operational = {("get", "/health"), ("get", "/health/live"), ("get", "/health/ready"), ("get", "/metrics")}
    assert set(operations) == set(EXPECTED_ERRORS) | operational
    for key in [("put", CONFIGS + "/{id}"), ("patch", APPS + "/{id}"), ("delete", CONFIGS + "/{id}")]:
        assert "If-Match" in [p["name"] for p in operations[key]["parameters"]], key
    patch = operations[("patch", CONFIGS + "/{id}")]["requestBody"]["content"]
    assert list(patch) == ["application/merge-patch+json"]
    assert client.get("/docs").status_code == 200


def test_request_id_is_returned_and_a_clients_own_is_kept(client):
    generated = client.get("/health").headers["x-request-id"]
    assert generated and generated != client.get("/health").headers["x-request-id"]

    response = client.get(f"{APPS}/nope", headers={"x-request-id": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    assert response.json()["request_id"] == "trace-abc-123"


def test_an_unusable_client_request_id_is_replaced(client):
    response = client.get("/health", headers={"x-request-id": "x" * 500})
    assert response.headers["x-request-id"] != "x" * 500


def test_health_is_200_while_the_database_answers(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "ok")


def race(client, requests: int, send) -> list[int]:
    """Send `requests` requests at once from as many threads; their statuses."""
    barrier = threading.Barrier(requests)

    def one(_):
        barrier.wait()
        return send().status_code

    with ThreadPoolExecutor(requests) as pool:
        return sorted(pool.map(one, range(requests)))


def test_concurrent_creates_of_one_application_name_give_one_201_and_409s(client, unique):
    name = unique()
    statuses = race(client, 8, lambda: client.post(APPS, json={"name": name}))
    assert statuses == [201] + [409] * 7


def test_concurrent_creates_of_one_configuration_name_give_one_201_and_409s(client, unique):
    app_id = client.post(APPS, json={"name": unique("app")}).json()["id"]
    name = unique()
    body = {"application_id": app_id, "name": name, "config": {}}
    statuses = race(client, 8, lambda: client.post(CONFIGS, json=body))
    assert statuses == [201] + [409] * 7
    assert len(client.get(f"{APPS}/{app_id}").json()["configuration_ids"]) == 1
