"""The provider's gRPC plugin server: the go-plugin handshake with Terraform, over mutual TLS.

`tf.runner.run_provider` caches a 1024-bit RSA key under the user's home for a week and accepts any TLS
client. This runner keeps the framework's servicers and replaces only the process plumbing:

- every process makes a fresh EC P-256 key and self-signed certificate, held in memory only;
- the gRPC server requires a client certificate and trusts exactly the one Terraform generated for this
  process and passed in `PLUGIN_CLIENT_CERT` (go-plugin's AutoMTLS), so nothing else on the machine can
  drive the provider with the user's credentials;
- the handshake line tells Terraform where to connect and which server certificate to trust.

Heavy imports (grpc, protobuf, cryptography) happen inside `serve` so the console script stays quick to
start; the whole path from exec to handshake is what Terraform waits for on every run.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tf.iface import Provider

# go-plugin's handshake contract with Terraform (hashicorp/go-plugin, terraform's plugin.Handshake).
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
PLUGIN_PROTOCOL_VERSION = 6
CLIENT_CERT_ENV = "PLUGIN_CLIENT_CERT"
PROTOCOL_VERSIONS_ENV = "PLUGIN_PROTOCOL_VERSIONS"

# The server certificate only has to outlive this process; the key never leaves memory.
_CERT_LIFETIME_DAYS = 30
# Terraform waits at most a couple of seconds for a plugin to exit after Shutdown.
_SHUTDOWN_GRACE_SECONDS = 0.5

NOT_A_PLUGIN_MESSAGE = (
    "This binary is a plugin. These are not meant to be executed directly.\n"
    "Please execute the program that consumes these plugins, which will\n"
    "load any plugins automatically\n"
)


class HandshakeError(Exception):
    """The process was not started by a Terraform that can talk to this provider securely."""


@dataclass(frozen=True)
class ServerIdentity:
    """A per-process TLS identity: PEM key and certificate for gRPC, DER certificate for the handshake."""

    key_pem: bytes
    cert_pem: bytes
    cert_der: bytes


def generate_server_identity() -> ServerIdentity:
    """Make a fresh EC P-256 key and a self-signed certificate for `localhost`, in memory only."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Terraform's clock and ours are the same clock, but allow for a coarse-grained one.
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=_CERT_LIFETIME_DAYS))
        # go-plugin puts this certificate in its root pool as well as expecting it as the leaf.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Terraform dials with ServerName "localhost"; Go checks SANs only, never the CN.
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return ServerIdentity(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def read_client_certificate(environ: dict[str, str]) -> bytes:
    """Check go-plugin's environment contract and return Terraform's client certificate (PEM).

    Raises HandshakeError when the magic cookie is missing (someone ran the binary by hand), when the
    client speaks no protocol version we serve, or when no client certificate was given: without it the
    server could not tell Terraform from any other local process, so it refuses to start.
    """
    if environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        raise HandshakeError(NOT_A_PLUGIN_MESSAGE)
    offered = environ.get(PROTOCOL_VERSIONS_ENV)
    if offered:
        versions = {v.strip() for v in offered.split(",")}
        if str(PLUGIN_PROTOCOL_VERSION) not in versions:
            raise HandshakeError(
                f"Incompatible plugin protocol: this provider serves protocol {PLUGIN_PROTOCOL_VERSION}, "
                f"Terraform offered {offered}. Terraform 1.0 or later is required."
            )
    cert = environ.get(CLIENT_CERT_ENV, "").strip()
    if not cert:
        raise HandshakeError(
            f"{CLIENT_CERT_ENV} is not set: this provider only accepts mutually authenticated TLS "
            "connections and needs the client certificate Terraform generates for each plugin "
            "(go-plugin AutoMTLS). Run it through Terraform 1.0 or later."
        )
    if "-----BEGIN CERTIFICATE-----" not in cert:
        raise HandshakeError(f"{CLIENT_CERT_ENV} does not hold a PEM certificate.")
    return cert.encode() + b"\n"


def handshake_line(port: int, cert_der: bytes) -> str:
    """The single stdout line go-plugin parses: core|app protocol|network|address|protocol|server cert."""
    # go-plugin decodes the certificate with base64.RawStdEncoding: standard alphabet, no padding.
    cert_b64 = base64.b64encode(cert_der).decode().rstrip("=")
    return f"{CORE_PROTOCOL_VERSION}|{PLUGIN_PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc|{cert_b64}\n"


def serve(provider: Provider, environ: dict[str, str] | None = None, stdout: IO[str] | None = None) -> int:
    """Serve `provider` to the Terraform that started this process; return the process exit status.

    Blocks until Terraform asks the plugin to shut down (go-plugin's GRPCController.Shutdown) or the
    process receives SIGTERM.
    """
    environ = dict(os.environ if environ is None else environ)
    stdout = stdout or sys.stdout
    try:
        client_cert_pem = read_client_certificate(environ)
    except HandshakeError as exc:
        sys.stderr.write(str(exc).rstrip("\n") + "\n")
        return 1

    from concurrent import futures

    import grpc
    from tf.gen import grpc_controller_pb2_grpc, grpc_stdio_pb2_grpc, tfplugin_pb2_grpc

    from vaultguard.provider.servicer import ControllerServicer, StdioServicer, VaultProviderServicer

    identity = generate_server_identity()
    credentials = grpc.ssl_server_credentials(
        [(identity.key_pem, identity.cert_pem)],
        root_certificates=client_cert_pem,
        require_client_auth=True,
    )

    stopping = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10, thread_name_prefix="tfplugin"))
    tfplugin_pb2_grpc.add_ProviderServicer_to_server(VaultProviderServicer(provider), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(ControllerServicer(stopping), server)
    grpc_stdio_pb2_grpc.add_GRPCStdioServicer_to_server(StdioServicer(stopping), server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    if port == 0:
        sys.stderr.write("vault provider: could not listen on 127.0.0.1\n")
        return 1

    # Like go-plugin servers: an interrupt is for Terraform to handle (it sends StopProvider and then
    # Shutdown); a plugin that died on Ctrl-C would cut an apply short behind Terraform's back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    server.start()
    stdout.write(handshake_line(port, identity.cert_der))
    stdout.flush()

    while not stopping.wait(timeout=0.5):
        pass
    server.stop(grace=_SHUTDOWN_GRACE_SECONDS).wait()
    return 0
