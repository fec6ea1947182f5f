"""The gRPC decision API's listener: `grpc_listener {}` in the config file, and the same safety rules as HTTP."""

import re
import socket

import pytest

from vaultguard.service.config import ConfigError, Settings, load_config_file, probe_listener


def write(tmp_path, text):
    path = tmp_path / "server.hcl"
    path.write_text(text)
    return str(path)


def test_a_grpc_listener_block_is_read(tmp_path):
    s = load_config_file(
        write(tmp_path, 'grpc_listener { address = "127.0.0.1:8201" }\nstorage "sqlite" { path = "vg.db" }')
    )
    assert s.grpc_listen == "127.0.0.1:8201" and not s.grpc_tls_cert_file
    s.check()


def test_without_the_block_there_is_no_grpc_listener(tmp_path):
    assert load_config_file(write(tmp_path, 'storage "sqlite" { path = "vg.db" }')).grpc_listen == ""


@pytest.mark.parametrize(
    "block,message",
    [
        ('grpc_listener { adress = "127.0.0.1:8201" }', "unknown settings: adress"),
        ("grpc_listener { tls_disable = true }", "address is required"),
    ],
)
def test_a_bad_grpc_listener_block_is_refused(tmp_path, block, message):
    with pytest.raises(ConfigError, match=message):
        load_config_file(write(tmp_path, block + '\nstorage "sqlite" { path = "vg.db" }'))


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"grpc_listen": "8201"}, "must be HOST:PORT"),
        ({"grpc_listen": "127.0.0.1:0"}, "must be HOST:PORT"),
        ({"grpc_listen": "127.0.0.1:8200"}, "port of the HTTP listener"),
        ({"grpc_listen": "127.0.0.1:8201", "grpc_tls_cert_file": "/nonexistent"}, "given together"),
        ({"grpc_listen": "0.0.0.0:8201"}, "not loopback"),
    ],
)
def test_unsafe_or_invalid_grpc_listeners_are_refused_outside_dev_mode(fields, message):
    settings = Settings(storage_url="sqlite:///x.db", **fields)
    with pytest.raises(ConfigError, match=message):
        settings.check()


def test_plaintext_on_a_public_address_needs_tls_disable_or_dev_mode():
    Settings(storage_url="sqlite:///x.db", grpc_listen="0.0.0.0:8201", grpc_tls_disable=True).check()
    Settings(dev=True, storage_url="sqlite:///x.db", grpc_listen="0.0.0.0:8201").check()


def test_the_settings_reach_the_workers():
    settings = Settings(storage_url="sqlite:///x.db", grpc_listen="127.0.0.1:8201")
    assert Settings.from_env(settings.to_env()).grpc_listen == "127.0.0.1:8201"


def test_an_address_in_use_is_refused_before_the_workers_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            probe_listener(f"127.0.0.1:{port}", "grpc_listener")
    probe_listener(f"127.0.0.1:{port}", "grpc_listener")  # free again


@pytest.mark.parametrize("listener", ["listener", "grpc_listener"])
def test_tls_files_that_do_not_load_stop_the_start_naming_the_listener_and_the_files(tmp_path, listener):
    """Checked before the workers start: a worker failing on them would show a traceback (for gRPC, one about
    binding the port) instead of the cause."""
    from vgtest import self_signed

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    cert, key = self_signed(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, other_key = self_signed(other_dir)
    prefix = "grpc_" if listener == "grpc_listener" else ""
    for cert_file, key_file in ((garbage, garbage), (cert, garbage), (cert, other_key)):
        files = {f"{prefix}tls_cert_file": str(cert_file), f"{prefix}tls_key_file": str(key_file)}
        settings = Settings(storage_url="sqlite:///x.db", grpc_listen="127.0.0.1:8201", **files)
        named = f"{listener}: tls_cert_file '{cert_file}' and tls_key_file '{key_file}' do not load"
        with pytest.raises(ConfigError, match="^" + re.escape(named)):
            settings.check()
    Settings(storage_url="sqlite:///x.db", grpc_listen="127.0.0.1:8201",
             **{f"{prefix}tls_cert_file": str(cert), f"{prefix}tls_key_file": str(key)}).check()  # fmt: skip
