"""Start the provider executable the way Terraform does and talk gRPC to it, for tests.

Terraform's side of go-plugin AutoMTLS is reproduced here: a self-made client certificate in
PLUGIN_CLIENT_CERT, the handshake line read from stdout, the server certificate from the line trusted.
"""

from __future__ import annotations

import base64
import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vaultguard.provider.plugin_server import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE


@dataclass(frozen=True)
class ClientIdentity:
    key_pem: bytes
    cert_pem: bytes


def make_client_identity(curve: ec.EllipticCurve | None = None) -> ClientIdentity:
    """A certificate shaped like go-plugin's AutoMTLS client certificate (P-521 by default, as Terraform)."""
    key = ec.generate_private_key(curve or ec.SECP521R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA512())
    )
    return ClientIdentity(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


@dataclass
class PluginProcess:
    process: subprocess.Popen
    line: str
    address: str
    server_cert_der: bytes
    startup_seconds: float

    @property
    def server_cert_pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.server_cert_der).public_bytes(serialization.Encoding.PEM)

    @property
    def server_cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.server_cert_der)

    def channel(self, client: ClientIdentity | None, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
        """A TLS channel trusting the handshake's server certificate, presenting `client` if given."""
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.server_cert_pem,
            private_key=client.key_pem if client else None,
            certificate_chain=client.cert_pem if client else None,
        )
        return grpc.secure_channel(
            self.address, credentials, options=[("grpc.ssl_target_name_override", "localhost"), *(options or [])]
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        finally:
            for stream in (self.process.stdout, self.process.stderr):
                if stream:
                    stream.close()


def provider_command() -> list[str]:
    return [sys.executable, "-I", "-m", "vaultguard.provider.main"]


def start_plugin(
    client_cert_pem: bytes | None, *, env: dict[str, str] | None = None, home: Path | None = None
) -> PluginProcess:
    """Start the provider with Terraform's environment contract and wait for its handshake line."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "TF_"))}
    environ[MAGIC_COOKIE_KEY] = MAGIC_COOKIE_VALUE
    environ["PLUGIN_PROTOCOL_VERSIONS"] = "5,6"
    if client_cert_pem is not None:
        environ["PLUGIN_CLIENT_CERT"] = client_cert_pem.decode()
    if home is not None:
        environ["HOME"] = str(home)
    environ.update(env or {})
    started = time.perf_counter()
    process = subprocess.Popen(
        provider_command(), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    if not line:
        process.wait(timeout=10)
        assert process.stderr is not None
        raise RuntimeError(f"provider exited with {process.returncode}: {process.stderr.read()}")
    fields = line.rstrip("\n").split("|")
    cert_b64 = fields[5]
    der = base64.b64decode(cert_b64 + "=" * (-len(cert_b64) % 4))
    return PluginProcess(process, line, fields[3], der, elapsed)
