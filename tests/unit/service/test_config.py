"""Server settings: the HCL config file and the refusals that keep production safe."""

import pytest

from vaultguard.service.config import ConfigError, Settings, jwks_fetch_policy, load_config_file


def write(tmp_path, text):
    path = tmp_path / "server.hcl"
    path.write_text(text)
    return str(path)


def test_a_full_config_file_is_read(tmp_path):
    path = write(
        tmp_path,
        """
        listener "tcp" {
          address = "127.0.0.1:8300"
          max_token_header_size = 16384
        }
        storage "sql" { url = "postgresql://db.internal/vaultguard" }
        workers = 4
        initial_root_token_file = "/etc/vaultguard/root-token"
        """,
    )
    s = load_config_file(path)
    assert (s.listen, s.workers, s.max_token_header_size) == ("127.0.0.1:8300", 4, 16384)
    assert s.storage_url == "postgresql://db.internal/vaultguard"
    assert s.initial_root_token_file == "/etc/vaultguard/root-token"
    s.check()


def test_sqlite_storage_takes_a_path(tmp_path):
    s = load_config_file(write(tmp_path, 'storage "sqlite" { path = "data/vg.db" }'))
    assert s.storage_url.startswith("sqlite:///") and s.storage_url.endswith("data/vg.db")


@pytest.mark.parametrize(
    "text,message",
    [
        ('storage "sql" { url = "x" }\nbogus = 1', "unknown settings: bogus"),
        ('storage "etcd" { url = "x" }', 'storage "etcd" is not supported'),
        ('listener "tcp" { adress = "x" }\nstorage "sql" { url = "x" }', "unknown settings: adress"),
        ("workers = ", "config file"),
        ("", "exactly one storage block"),
    ],
)
def test_config_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config_file(write(tmp_path, text))
    assert message in str(err.value)


def test_production_refuses_plain_http_on_a_public_address():
    s = Settings(listen="0.0.0.0:8200", storage_url="sqlite:///x.db")
    with pytest.raises(ConfigError) as err:
        s.check()
    assert "tls_cert_file" in str(err.value)
    s.tls_disable = True
    s.check()


def test_dev_mode_may_listen_anywhere_without_tls():
    Settings(dev=True, listen="0.0.0.0:8200", storage_url="sqlite:///x.db").check()


@pytest.mark.parametrize("listen", ["nohost", "127.0.0.1:0", "127.0.0.1:99999"])
def test_invalid_listener_addresses_are_refused(listen):
    with pytest.raises(ConfigError):
        Settings(listen=listen, storage_url="sqlite:///x.db").check()


def test_tls_cert_without_key_is_refused(tmp_path):
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError):
        Settings(storage_url="sqlite:///x.db", tls_cert_file=str(cert)).check()


def test_the_replica_propagation_bound_defaults_to_one_second(tmp_path):
    assert load_config_file(write(tmp_path, 'storage "sql" { url = "x" }')).replica_propagation_bound == 1.0


@pytest.mark.parametrize("value,seconds", [('"250ms"', 0.25), ('"2s"', 2.0), ('"0"', 0.0), ("3", 3.0), ('"1.5s"', 1.5)])
def test_the_replica_propagation_bound_takes_a_duration(tmp_path, value, seconds):
    text = f'storage "sql" {{\n url = "x"\n replica_propagation_bound = {value}\n}}'
    assert load_config_file(write(tmp_path, text)).replica_propagation_bound == seconds


@pytest.mark.parametrize("value", ['"-1s"', '"1h"', '"soon"', "61", '""', "true"])
def test_a_bad_replica_propagation_bound_is_named(tmp_path, value):
    text = f'storage "sql" {{\n url = "x"\n replica_propagation_bound = {value}\n}}'
    with pytest.raises(ConfigError) as err:
        load_config_file(write(tmp_path, text))
    assert 'storage "sql": replica_propagation_bound' in str(err.value) and "from 0 to 60s" in str(err.value)


# -- JWKS fetch controls ------------------------------------------------------------------------------------


def test_jwks_allowed_networks_are_read_and_a_bad_one_is_named(tmp_path):
    storage = 'storage "sql" { url = "postgresql://db/vg" }\n'
    s = load_config_file(write(tmp_path, storage + 'jwks_allowed_networks = ["10.20.0.0/16", "fd00:1::/48"]'))
    assert s.jwks_allowed_networks == ["10.20.0.0/16", "fd00:1::/48"]
    policy = jwks_fetch_policy(s)
    assert not policy.open and [str(n) for n in policy.allowed_networks] == s.jwks_allowed_networks
    assert jwks_fetch_policy(Settings(dev=True)).open
    with pytest.raises(ConfigError, match='jwks_allowed_networks: "10.0.0.300/8" is not an IP network'):
        load_config_file(write(tmp_path, storage + 'jwks_allowed_networks = ["10.0.0.300/8"]'))
    with pytest.raises(ConfigError, match="jwks_allowed_networks must be a list"):
        load_config_file(write(tmp_path, storage + 'jwks_allowed_networks = "10.0.0.0/8"'))
