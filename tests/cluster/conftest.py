"""The multi-host test carries the `cluster` marker (`pytest -m cluster` runs it alone). It
needs root and network namespaces: elsewhere it is skipped with the reason, except under
CI=true, where it fails."""

import os

import pytest

from tests.cluster.network import check_support


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/cluster/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.cluster)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # The fixture shows the hosts' logs when the test itself failed.
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


@pytest.fixture(scope="package")
def namespaces() -> None:
    reason = check_support()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
