"""`pipenv run serve` with TLS_CERT_FILE and TLS_KEY_FILE speaks HTTPS, with a certificate made
here for 127.0.0.1 and trusted by the test's client alone; a bad pair stops the start in one line."""

import datetime
import ipaddress
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.service_process import ServiceProcess
from infra.settings import PROJECT_ROOT


@pytest.fixture
def folder() -> Iterator[Path]:
    # Its own, not pytest's tmp_path: other pytest runs on the machine may clean up the shared base.
    with tempfile.TemporaryDirectory(prefix="config-service-tls-") as name:
        yield Path(name)


def self_signed(folder: Path, name: str = "config-service-test") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key: PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def wait_for_https(service: ServiceProcess, url: str, trust: ssl.SSLContext, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"service exited with {service.process.returncode}:\n{service.log()}")
        try:
            if httpx.get(f"{url}/health", verify=trust, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"service not healthy over HTTPS after {timeout}s:\n{service.log()}")


def serve(folder: Path, **settings: str) -> subprocess.CompletedProcess:
    """`python -m api` with only these settings, expected to stop before it serves (and, should
    it not, pointed at no database rather than starting the embedded one)."""
    settings = {"database_url": "postgresql://nobody@127.0.0.1:1/none", "db_startup_wait": "1", **settings}
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), **{k.upper(): v for k, v in settings.items()}}
    return subprocess.run(
        [sys.executable, "-m", "api"], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


def test_with_a_certificate_and_key_the_service_speaks_https_only(database_url, folder, unique):
    cert_file, key_file = self_signed(folder)
    trust = ssl.create_default_context(cafile=str(cert_file))
    service = ServiceProcess(database_url=database_url, tls_cert_file=cert_file, tls_key_file=key_file)
    url = f"https://127.0.0.1:{service.port}"
    try:
        service.start()
        wait_for_https(service, url, trust)

        name = unique("tls")
        created = httpx.post(f"{url}/api/v1/applications", json={"name": name}, verify=trust, timeout=10)
        assert created.status_code == 201, created.text
        read = httpx.get(f"{url}/api/v1/applications/{created.json()['id']}", verify=trust, timeout=10)
        assert read.json()["name"] == name
        # Verified, not merely encrypted: a client that does not trust this certificate refuses it.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/health", timeout=10)
        # Nothing is served in the clear on that port.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{service.port}/health", timeout=5)
        assert service.stop() == 0
        assert f"running on https://127.0.0.1:{service.port}" in service.log()  # what an operator reads
    finally:
        service.close()


@pytest.mark.parametrize(("given", "missing"), [("tls_cert_file", "TLS_KEY_FILE"), ("tls_key_file", "TLS_CERT_FILE")])
def test_one_tls_file_alone_stops_the_start_in_one_line_naming_the_other(folder, given, missing):
    cert_file, key_file = self_signed(folder)
    result = serve(folder, **{given: str(cert_file if given == "tls_cert_file" else key_file)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"config-service: invalid settings: {missing} is not set"), lines


def test_a_key_that_does_not_match_the_certificate_stops_the_start_in_one_line(folder):
    cert_file, _ = self_signed(folder, "one")
    _, other_key = self_signed(folder, "other")
    result = serve(folder, tls_cert_file=str(cert_file), tls_key_file=str(other_key))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot serve HTTPS with TLS_CERT_FILE and TLS_KEY_FILE" in lines[0], lines
