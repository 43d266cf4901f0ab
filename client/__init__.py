"""Makes the client's tests the package `client.tests`, distinct from the service's `tests`
(pytest names modules by package). Not part of the distribution, which is `src/config_client`."""
