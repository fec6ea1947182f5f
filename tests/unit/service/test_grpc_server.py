"""The gRPC listener itself, in-process: TLS when configured, and the caller checked before anything else."""

import asyncio
import datetime
import ipaddress
import socket

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import vgtest
from vaultguard.proto.decision.v1 import decision_pb2, decision_pb2_grpc
from vaultguard.service.audit.log import AuditLog
from vaultguard.service.config import Settings
from vaultguard.service.grpc_server import start


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "grpc.crt").write_bytes(cert_pem)
    (tmp_path / "grpc.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_pem


def test_a_tls_listener_serves_check_and_refuses_a_caller_without_a_token(tmp_path):
    ca = self_signed(tmp_path)
    address = f"127.0.0.1:{vgtest.free_port()}"
    settings = Settings(
        storage_url="sqlite:///unused.db",
        grpc_listen=address,
        grpc_tls_cert_file=str(tmp_path / "grpc.crt"),
        grpc_tls_key_file=str(tmp_path / "grpc.key"),
    )

    async def scenario():
        # The caller is refused before storage is touched.
        server = await start(settings, services=None, audit=AuditLog(store=None, devices=[]))
        try:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca)
            async with grpc.aio.secure_channel(address, credentials) as channel:
                stub = decision_pb2_grpc.DecisionServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.Check(decision_pb2.CheckRequest(token="t", operation="read", path="p"), timeout=10)
                return err.value.code()
        finally:
            await server.stop(0)

    assert asyncio.run(scenario()) == grpc.StatusCode.UNAUTHENTICATED


def test_a_port_that_cannot_be_bound_is_an_error():
    async def scenario():
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            settings = Settings(storage_url="sqlite:///unused.db", grpc_listen=f"127.0.0.1:{taken.getsockname()[1]}")
            with pytest.raises(RuntimeError):
                await start(settings, services=None, audit=AuditLog(store=None, devices=[]))

    asyncio.run(scenario())
