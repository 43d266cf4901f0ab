"""Each failure is a typed error carrying what the service said."""

import pytest

from config_client import (
    ConfigClient,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    ValidationError,
)


def test_a_missing_configuration_or_application_is_not_found(service, app):
    with ConfigClient(service.url) as client:
        with pytest.raises(NotFound) as caught:
            client.get(app, "nothing")
        assert caught.value.status == 404 and caught.value.code == "not_found"
        assert "nothing" in str(caught.value) and caught.value.request_id
        with pytest.raises(NotFound):
            client.get_all("no-such-application-" + app)
        with pytest.raises(NotFound):
            client.update(app, "nothing", {})


def test_a_taken_name_is_a_conflict(admin, app):
    with pytest.raises(Conflict) as caught:
        admin.create_application(app)
    assert caught.value.status == 409 and app in str(caught.value)
    admin.create(app, "c", {})
    with pytest.raises(Conflict):
        admin.create(app, "c", {})
    with pytest.raises(Conflict):  # still has configurations
        admin.delete_application(app)


def test_a_stale_etag_is_precondition_failed(admin, app):
    old = admin.create(app, "c", {"v": 1})
    admin.update(app, "c", {"v": 2})
    with pytest.raises(PreconditionFailed) as caught:
        admin.update(app, "c", {"v": 3}, if_match=old.etag)
    assert (caught.value.status, caught.value.code) == (412, "precondition_failed")
    assert admin.configuration(app, "c").config == {"v": 2}


def test_an_invalid_request_is_a_validation_error_with_the_details(admin, app):
    with pytest.raises(ValidationError) as caught:
        admin.create(app, "x" * 300, {})
    error = caught.value
    assert error.status == 422 and error.code == "validation_error"
    assert [detail.location for detail in error.details] == ["body.name"]
    assert "body.name" in str(error)


# -- access control (AUTH=tokens): the `secured` service is conftest's ---------------------


@pytest.mark.parametrize("token", [None, "cfs_not-a-token-the-service-made", "not even the shape"])
def test_no_token_or_an_unknown_one_is_unauthorized(secured, token):
    service, _ = secured
    with ConfigClient(service.url, token=token, retries=0) as client:
        with pytest.raises(Unauthorized) as caught:
            client.get("guarded", "c")
        assert caught.value.status == 401
        with pytest.raises(Unauthorized):
            client.create_application("anything")


def test_a_token_without_the_scope_is_forbidden(secured):
    service, secrets = secured
    with ConfigClient(service.url, token=secrets["read"]) as reader:
        assert reader.get("guarded", "c") == {"v": 1}
        with pytest.raises(Forbidden) as caught:
            reader.update("guarded", "c", {"v": 2})
        assert caught.value.status == 403
    with ConfigClient(service.url, token=secrets["write"]) as writer:
        assert writer.update("guarded", "c", {"v": 2}).version == 2
        with pytest.raises(Forbidden):
            writer.create_application("not-for-writers")
