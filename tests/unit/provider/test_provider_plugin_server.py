"""The plugin server as Terraform sees it: handshake line, fresh TLS identity, client certificate required."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from provider_plugin_process import (
    ClientIdentity,
    PluginProcess,
    make_client_identity,
    provider_command,
    start_plugin,
)
from tf.gen import grpc_controller_pb2, grpc_controller_pb2_grpc, tfplugin_pb2, tfplugin_pb2_grpc

from vaultguard.provider.plugin_server import _listen, generate_server_identity, handshake_line, reattach_config
from vaultguard.provider.provider import PROVIDER_ADDRESS


@pytest.fixture(scope="module")
def terraform_identity() -> ClientIdentity:
    return make_client_identity()  # P-521, like the certificate Terraform generates


@pytest.fixture
def plugin(terraform_identity: ClientIdentity, tmp_path: Path) -> Iterator[PluginProcess]:
    process = start_plugin(terraform_identity.cert_pem, home=tmp_path)
    yield process
    process.stop()


def provider_schema(channel: grpc.Channel) -> tfplugin_pb2.GetProviderSchema.Response:
    return tfplugin_pb2_grpc.ProviderStub(channel).GetProviderSchema(
        tfplugin_pb2.GetProviderSchema.Request(), timeout=10
    )


def test_handshake_line_has_go_plugins_six_fields(plugin: PluginProcess) -> None:
    core, app, network, address, protocol, cert = plugin.line.rstrip("\n").split("|")

    assert (core, app, network, protocol) == ("1", "6", "tcp", "grpc")
    assert address.startswith("127.0.0.1:")
    assert not cert.endswith("=")
    assert base64.b64decode(cert + "=" * (-len(cert) % 4)) == plugin.server_cert_der


def test_server_key_is_a_strong_key_with_a_localhost_certificate(plugin: PluginProcess) -> None:
    cert = plugin.server_cert
    key = cert.public_key()

    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["localhost"]


def test_the_certificate_is_self_signed_and_what_go_plugin_trusts_as_its_own_root() -> None:
    identity = generate_server_identity()
    cert = x509.load_der_x509_certificate(identity.cert_der)
    extensions = {e.oid: e for e in cert.extensions}

    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == cert.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    assert x509.load_pem_x509_certificate(identity.cert_pem) == cert
    constraints = extensions[ExtensionOID.BASIC_CONSTRAINTS]
    assert constraints.critical and constraints.value.ca
    usage = extensions[ExtensionOID.KEY_USAGE]
    assert usage.critical and usage.value.digital_signature and usage.value.key_cert_sign
    assert list(extensions[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert extensions[ExtensionOID.SUBJECT_ALTERNATIVE_NAME].value.get_values_for_type(x509.IPAddress) == [
        ipaddress.IPv4Address("127.0.0.1")
    ]
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
    key = serialization.load_pem_private_key(identity.key_pem, None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_every_process_makes_a_fresh_key_and_stores_nothing(
    terraform_identity: ClientIdentity, tmp_path: Path
) -> None:
    first = start_plugin(terraform_identity.cert_pem, home=tmp_path)
    second = start_plugin(terraform_identity.cert_pem, home=tmp_path)
    try:
        assert first.server_cert.public_key() != second.server_cert.public_key()
    finally:
        first.stop()
        second.stop()
    assert list(tmp_path.iterdir()) == []  # no cached key under $HOME (tf's runner keeps one in ~/.cache)


def test_the_grpc_socket_lives_in_a_private_temporary_directory_that_goes_with_the_process(
    terraform_identity: ClientIdentity, tmp_path: Path
) -> None:
    temp = Path(tempfile.mkdtemp(prefix="vg-", dir="/tmp"))  # short: a unix socket path has at most 107 bytes
    try:
        plugin = start_plugin(terraform_identity.cert_pem, home=tmp_path, env={"TMPDIR": str(temp)})
        try:
            [private] = temp.iterdir()
            assert private.name.startswith("vaultguard-provider-")
            assert stat.S_IMODE(private.stat().st_mode) == 0o700
            assert "grpc.sock" in os.listdir(private)
        finally:
            plugin.stop()
        assert list(temp.iterdir()) == []
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_terraform_with_its_client_certificate_is_served(
    plugin: PluginProcess, terraform_identity: ClientIdentity
) -> None:
    with plugin.channel(terraform_identity) as channel:
        response = provider_schema(channel)

    assert "address" in {a.name for a in response.provider.block.attributes}
    assert not [d for d in response.diagnostics if d.severity == tfplugin_pb2.Diagnostic.ERROR]


def test_the_tls_relay_carries_large_and_concurrent_messages_both_ways(
    plugin: PluginProcess, terraform_identity: ClientIdentity
) -> None:
    """More than the relay buffers in either direction (a 3 MB request; answers of several MB in all, from
    concurrent calls) arrives whole: the relay stops reading a side while the other side cannot take more."""
    from concurrent.futures import ThreadPoolExecutor

    import msgpack

    text = "# " + "x" * (3 * 1024 * 1024) + "\n"
    config = msgpack.packb({"name": "big", "policy": text, "namespace": None, "id": None}, use_bin_type=True)
    request = tfplugin_pb2.ValidateResourceConfig.Request(
        type_name="vault_policy", config=tfplugin_pb2.DynamicValue(msgpack=config)
    )
    options = [("grpc.max_send_message_length", 8 << 20), ("grpc.max_receive_message_length", 8 << 20)]
    with plugin.channel(terraform_identity, options=options) as channel:
        stub = tfplugin_pb2_grpc.ProviderStub(channel)
        single = provider_schema(channel).SerializeToString()
        with ThreadPoolExecutor(8) as pool:
            schemas = list(pool.map(lambda _: provider_schema(channel).SerializeToString(), range(200)))
            validations = list(pool.map(lambda _: stub.ValidateResourceConfig(request, timeout=30), range(4)))
    assert len(single) * 200 > 2 << 20  # more than both relay buffers together
    assert all(schema == single for schema in schemas)
    assert all(v == validations[0] for v in validations)


def test_a_client_without_a_certificate_is_refused(plugin: PluginProcess) -> None:
    with plugin.channel(None) as channel, pytest.raises(grpc.RpcError) as caught:
        provider_schema(channel)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("curve", [ec.SECP521R1(), ec.SECP256R1()], ids=["p521", "p256"])
def test_a_client_with_another_certificate_is_refused(plugin: PluginProcess, curve: ec.EllipticCurve) -> None:
    stranger = make_client_identity(curve)

    with plugin.channel(stranger) as channel, pytest.raises(grpc.RpcError) as caught:
        provider_schema(channel)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_shutdown_from_terraform_ends_the_process(
    plugin: PluginProcess, terraform_identity: ClientIdentity
) -> None:
    with plugin.channel(terraform_identity) as channel:
        grpc_controller_pb2_grpc.GRPCControllerStub(channel).Shutdown(grpc_controller_pb2.Empty(), timeout=10)

    assert plugin.process.wait(timeout=5) == 0


def test_the_port_is_taken_from_terraforms_range(terraform_identity: ClientIdentity, tmp_path: Path) -> None:
    process = start_plugin(
        terraform_identity.cert_pem,
        home=tmp_path,
        env={"PLUGIN_MIN_PORT": "20000", "PLUGIN_MAX_PORT": "24000"},
    )
    try:
        assert 20000 <= int(process.address.rsplit(":", 1)[1]) <= 24000
    finally:
        process.stop()


def test_connections_to_the_tls_endpoint_send_small_frames_without_delay() -> None:
    """Nagle's algorithm with Terraform's delayed acknowledgements stalled every gRPC exchange by 40 ms
    (DECISIONS.md#d66): a connection accepted by the endpoint has TCP_NODELAY (the relay sets it again on
    each accepted socket, for platforms where it is not inherited)."""
    listener = _listen({})
    try:
        with socket.create_connection(listener.getsockname()[:2]):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        listener.close()


DEFERRED_PROBE = """
import sys
from vaultguard.provider.plugin_server import _plugin_grpc_server, defer_unused_modules
defer_unused_modules()
import os, tempfile, threading
import grpc
from vaultguard.provider.provider import VaultProvider
server = _plugin_grpc_server(VaultProvider(), threading.Event(), os.path.join(tempfile.mkdtemp(), "s.sock"))
server.start()
print("serving", "asyncio.base_events" in sys.modules, "grpc.aio._server" in sys.modules)
server.stop(0).wait()
import asyncio
from asyncio import get_running_loop
print("asyncio", "asyncio.base_events" in sys.modules, asyncio.run.__module__, type(sys.modules["asyncio"]).__name__)
import grpc.aio
from grpc.aio import ServicerContext
print("grpc.aio", "grpc.aio._server" in sys.modules, grpc.aio.server.__module__, type(sys.modules["grpc.aio"]).__name__)
"""


def test_asyncio_and_grpc_aio_load_only_when_something_uses_them() -> None:
    """The provider serves with grpc's synchronous server and relays TLS with threads; grpc would import
    asyncio and grpc.aio all the same (DECISIONS.md#d64). Once asked for, each is the real module, wherever
    it is reached from."""
    result = subprocess.run([sys.executable, "-I", "-c", DEFERRED_PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "serving False False",
        "asyncio True asyncio.runners module",
        "grpc.aio True grpc.aio._server module",
    ]


def run_plugin_expecting_refusal(env: dict[str, str], client_cert: bytes | None, tmp_path: Path) -> str:
    with pytest.raises(RuntimeError) as caught:
        start_plugin(client_cert, home=tmp_path, env=env)
    return str(caught.value)


def test_without_terraforms_client_certificate_the_provider_refuses_to_start(tmp_path: Path) -> None:
    message = run_plugin_expecting_refusal({}, None, tmp_path)

    assert "exited with 1" in message
    assert "PLUGIN_CLIENT_CERT is not set" in message


def test_run_by_hand_it_says_it_is_a_plugin() -> None:
    result = subprocess.run(
        provider_command(), capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}
    )

    assert result.returncode == 1
    assert "This binary is a plugin" in result.stderr
    assert result.stdout == ""


def test_a_terraform_without_protocol_6_is_told_why(
    terraform_identity: ClientIdentity, tmp_path: Path
) -> None:
    message = run_plugin_expecting_refusal(
        {"PLUGIN_PROTOCOL_VERSIONS": "5"}, terraform_identity.cert_pem, tmp_path
    )

    assert "Incompatible plugin protocol" in message


def test_handshake_line_encodes_the_certificate_without_padding() -> None:
    assert handshake_line(1234, b"\x00\x01") == "1|6|tcp|127.0.0.1:1234|grpc|AAE\n"


def test_startup_to_handshake_time_is_recorded(plugin: PluginProcess, record_property) -> None:
    # Reported, not asserted: timing belongs to benchmarks (DECISIONS.md#d57), this only makes it visible.
    record_property("provider_handshake_ms", round(plugin.startup_seconds * 1000))
    assert plugin.startup_seconds > 0


# ---- --debug: one process for many Terraform runs (TF_REATTACH_PROVIDERS) ---------------------------------------


@pytest.fixture
def debug_plugin(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, dict]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "TF_"))}
    environ["HOME"] = str(tmp_path)
    process = subprocess.Popen(
        [*provider_command(), "--debug"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    yield process, json.loads(line)
    if process.poll() is None:
        process.terminate()
    process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        stream and stream.close()


def test_debug_mode_prints_the_reattach_configuration_terraform_reads(debug_plugin) -> None:
    process, config = debug_plugin

    assert list(config) == [PROVIDER_ADDRESS]
    entry = config[PROVIDER_ADDRESS]
    assert (entry["Protocol"], entry["ProtocolVersion"], entry["Pid"], entry["Test"]) == ("grpc", 6, process.pid, True)
    assert entry["Addr"]["Network"] == "unix"
    socket_dir = Path(entry["Addr"]["String"]).parent
    assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700  # only this user can reach the plaintext socket


def test_debug_mode_serves_many_runs_and_outlives_terraforms_shutdown(debug_plugin) -> None:
    process, config = debug_plugin
    address = "unix:" + config[PROVIDER_ADDRESS]["Addr"]["String"]

    for _ in range(2):  # each Terraform run connects, works, and asks the plugin to shut down
        with grpc.insecure_channel(address) as channel:
            assert "address" in {a.name for a in provider_schema(channel).provider.block.attributes}
            grpc_controller_pb2_grpc.GRPCControllerStub(channel).Shutdown(grpc_controller_pb2.Empty(), timeout=10)
        time.sleep(0.2)
        assert process.poll() is None

    process.terminate()
    assert process.wait(timeout=5) == 0
    assert not Path(config[PROVIDER_ADDRESS]["Addr"]["String"]).parent.exists()  # the socket is removed


def test_reattach_configuration_is_compact_json() -> None:
    value = reattach_config("registry.terraform.io/a/b", 42, "/tmp/x/grpc.sock")

    assert " " not in value  # one shell word
    assert json.loads(value)["registry.terraform.io/a/b"]["Addr"] == {"Network": "unix", "String": "/tmp/x/grpc.sock"}
