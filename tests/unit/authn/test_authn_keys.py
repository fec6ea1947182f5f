"""Key material: which public keys the service accepts, which algorithms they verify, canonical PEM."""

from __future__ import annotations

import base64
import re

import pytest
from authn_keymaterial import certificate_pem, private_pem, public_pem, self_signed_certificate
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from vaultguard.service.authn.keys import (
    ALGORITHMS,
    MAX_PEM_BYTES,
    InvalidKeyError,
    algorithms_for_key,
    describe_key,
    ensure_supported_key,
    load_ca_bundle_pem,
    load_public_key_pem,
    normalize_pem,
)

RSA_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


def rejection(pem, **kwargs) -> str:
    with pytest.raises(InvalidKeyError) as caught:
        load_public_key_pem(pem, **kwargs)
    return str(caught.value)


def der_rsa_public_key(modulus: int, exponent: int) -> str:
    """A SubjectPublicKeyInfo PEM for arbitrary RSA numbers (cryptography refuses to build odd ones)."""

    def tlv(tag: int, body: bytes) -> bytes:
        if len(body) < 128:
            length = bytes([len(body)])
        else:
            raw = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
            length = bytes([0x80 | len(raw)]) + raw
        return bytes([tag]) + length + body

    def integer(value: int) -> bytes:
        return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))

    algorithm = tlv(0x30, bytes.fromhex("06092a864886f70d0101010500"))  # rsaEncryption, NULL
    der = tlv(0x30, algorithm + tlv(0x03, b"\x00" + tlv(0x30, integer(modulus) + integer(exponent))))
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----"]) + "\n"


class TestAcceptedKeys:
    @pytest.mark.parametrize(
        ("name", "algorithms", "description"),
        [
            ("rsa2048", RSA_ALGORITHMS, "RSA-2048"),
            ("p256", {"ES256"}, "EC P-256"),
            ("p384", {"ES384"}, "EC P-384"),
            ("p521", {"ES512"}, "EC P-521"),
            ("ed25519", {"EdDSA"}, "Ed25519"),
        ],
    )
    def test_a_supported_public_key_loads_and_verifies_exactly_its_algorithms(
        self, keys, name, algorithms, description
    ):
        private = getattr(keys, name)
        key = load_public_key_pem(public_pem(private))
        assert key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert algorithms_for_key(key) == algorithms
        assert describe_key(key) == description

    def test_a_pkcs1_rsa_public_key_is_accepted(self, keys):
        pem = public_pem(keys.rsa2048, serialization.PublicFormat.PKCS1)
        assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
        key = load_public_key_pem(pem)
        assert key.public_numbers() == keys.rsa2048.public_key().public_numbers()

    def test_a_certificate_is_accepted_and_its_public_key_is_used(self, keys):
        pem = certificate_pem(self_signed_certificate(keys.rsa2048))
        key = load_public_key_pem(pem)
        assert key.public_numbers() == keys.rsa2048.public_key().public_numbers()

    def test_an_ed25519_certificate_is_accepted(self, keys):
        key = load_public_key_pem(certificate_pem(self_signed_certificate(keys.ed25519)))
        assert algorithms_for_key(key) == {"EdDSA"}

    def test_whitespace_around_and_inside_the_pem_does_not_matter(self, rsa_pem):
        messy = "\r\n  " + rsa_pem.replace("\n", "\r\n    ") + "\n\n"
        assert load_public_key_pem(messy).key_size == 2048

    def test_the_algorithm_list_is_the_one_from_decision_d22(self):
        assert ALGORITHMS == (
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
        )  # fmt: skip
        assert not any(a.upper().startswith("HS") or a.lower() == "none" for a in ALGORITHMS)


class TestRejectedKeys:
    def test_a_1024_bit_rsa_key_is_rejected_for_its_size(self, pem_of):
        assert rejection(pem_of("rsa1024")) == "RSA key is 1024 bits; at least 2048 are required"

    def test_the_label_names_the_key_in_the_message(self, pem_of):
        message = rejection(pem_of("rsa1024"), label='public_keys[1] (key_id "k2")')
        assert message == 'public_keys[1] (key_id "k2"): RSA key is 1024 bits; at least 2048 are required'

    def test_the_error_keeps_the_reason_and_the_label_apart(self, pem_of):
        with pytest.raises(InvalidKeyError) as caught:
            load_public_key_pem(pem_of("rsa1024"), label="k")
        assert caught.value.reason == "RSA key is 1024 bits; at least 2048 are required"
        assert caught.value.label == "k"
        assert isinstance(caught.value, ValueError)

    def test_a_certificate_carrying_a_short_rsa_key_is_rejected(self, keys):
        pem = certificate_pem(self_signed_certificate(keys.rsa1024))
        assert rejection(pem) == "RSA key is 1024 bits; at least 2048 are required"

    def test_an_ec_key_on_secp256k1_is_rejected(self, pem_of):
        assert rejection(pem_of("secp256k1")) == (
            "EC key is on curve secp256k1; only P-256, P-384 and P-521 are supported"
        )

    def test_an_ed448_key_is_rejected_because_eddsa_means_ed25519(self, pem_of):
        assert rejection(pem_of("ed448")) == "Ed448 keys are not supported; EdDSA here means Ed25519"

    def test_a_dsa_key_is_rejected(self, pem_of):
        assert rejection(pem_of("dsa")).startswith("DSA keys are not supported; use RSA (2048 bits or more)")

    def test_an_x25519_key_is_rejected_as_a_key_agreement_key(self, pem_of):
        assert rejection(pem_of("x25519")) == (
            "X25519 keys are for key agreement and cannot verify signatures"
        )

    @pytest.mark.parametrize(
        ("fmt", "password", "label"),
        [
            (serialization.PrivateFormat.PKCS8, None, "PRIVATE KEY"),
            (serialization.PrivateFormat.PKCS8, b"secret", "ENCRYPTED PRIVATE KEY"),
            (serialization.PrivateFormat.TraditionalOpenSSL, None, "RSA PRIVATE KEY"),
            (serialization.PrivateFormat.TraditionalOpenSSL, b"secret", "RSA PRIVATE KEY"),
            (serialization.PrivateFormat.OpenSSH, None, "OPENSSH PRIVATE KEY"),
        ],
    )
    def test_a_private_key_is_rejected_and_called_out_as_such(self, keys, fmt, password, label):
        message = rejection(private_pem(keys.rsa2048, fmt, password))
        assert message == (f"this is a private key ({label}); provide only the public key or a certificate")

    def test_a_private_key_next_to_a_public_key_is_still_called_out(self, keys, rsa_pem):
        message = rejection(rsa_pem + private_pem(keys.p256))
        assert message.startswith("this is a private key (PRIVATE KEY)")

    def test_the_rejection_of_a_private_key_never_echoes_it(self, keys):
        pem = private_pem(keys.p256)
        body_line = pem.splitlines()[1]
        assert body_line not in rejection(pem)

    def test_two_pem_blocks_are_rejected(self, rsa_pem, ec_pem):
        assert rejection(rsa_pem + ec_pem) == (
            "PEM contains 2 blocks; exactly one public key or certificate is allowed"
        )

    @pytest.mark.parametrize(
        "wrap",
        [
            lambda p: "my key:\n" + p,
            lambda p: p + "trailing words\n",
            lambda p: p.replace("-----\n", "-----\nProc-Type: 4\n", 1),
        ],
    )
    def test_text_around_or_inside_the_block_is_rejected(self, rsa_pem, wrap):
        assert rejection(wrap(rsa_pem)).startswith("PEM is malformed: only -----BEGIN/END----- blocks")

    def test_a_block_whose_end_label_differs_is_rejected(self, rsa_pem):
        pem = rsa_pem.replace("END PUBLIC KEY", "END CERTIFICATE")
        assert rejection(pem).startswith("PEM is malformed")

    @pytest.mark.parametrize("text", ["", "   \n\t", "\r\n"])
    def test_empty_text_is_rejected(self, text):
        assert rejection(text) == "PEM is empty"

    def test_text_that_is_not_pem_at_all_is_rejected(self):
        assert rejection("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host") == (
            "PEM has no -----BEGIN ...----- line"
        )

    def test_a_pem_that_is_not_a_string_is_rejected(self, rsa_pem):
        assert rejection(rsa_pem.encode()) == "PEM must be a string"

    def test_a_pem_over_16_kib_is_rejected_before_parsing(self, rsa_pem):
        padded = rsa_pem + " " * MAX_PEM_BYTES
        assert rejection(padded) == f"PEM is {len(padded)} bytes; at most 16384 are allowed"

    def test_a_body_that_is_not_base64_is_rejected(self):
        pem = "-----BEGIN PUBLIC KEY-----\nMIIB=Ij=A\n-----END PUBLIC KEY-----\n"
        assert rejection(pem) == "the PUBLIC KEY block is not valid base64"

    def test_base64_that_is_not_a_key_is_rejected(self):
        pem = "-----BEGIN PUBLIC KEY-----\nAAAAAAAA\n-----END PUBLIC KEY-----\n"
        assert rejection(pem) == "the PUBLIC KEY block is not a valid public key"

    def test_base64_that_is_not_a_certificate_is_rejected(self):
        pem = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n"
        assert rejection(pem) == "the CERTIFICATE block is not a valid certificate"

    def test_other_pem_types_are_rejected_by_name(self, keys):
        pem = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        assert rejection(pem) == (
            'unsupported PEM block "EC PARAMETERS"; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE'
        )

    def test_an_rsa_key_with_a_huge_public_exponent_is_rejected(self, keys):
        modulus = keys.rsa2048.public_key().public_numbers().n
        pem = der_rsa_public_key(modulus, 2**300 + 1)
        assert rejection(pem) == "RSA public exponent is larger than 2^256"

    def test_an_rsa_key_over_16384_bits_is_rejected(self):
        modulus = (1 << 16399) | (0x1234567 << 100) | 1
        assert rejection(der_rsa_public_key(modulus, 65537)) == (
            "RSA key is 16400 bits; at most 16384 are supported"
        )


class TestKeyObjects:
    def test_a_key_object_from_elsewhere_gets_the_same_rules(self, keys):
        assert ensure_supported_key(keys.p256.public_key()) is not None
        with pytest.raises(InvalidKeyError, match=r"^JWKS key \"a\": RSA key is 1024 bits"):
            ensure_supported_key(keys.rsa1024.public_key(), label='JWKS key "a"')

    def test_a_private_key_object_is_not_a_verifying_key(self, keys):
        with pytest.raises(InvalidKeyError, match="unsupported key type"):
            ensure_supported_key(keys.p256)

    @pytest.mark.parametrize("name", ["rsa1024", "secp256k1", "ed448", "dsa", "x25519"])
    def test_a_key_the_service_does_not_accept_verifies_no_algorithm(self, keys, name):
        assert algorithms_for_key(getattr(keys, name).public_key()) == frozenset()

    def test_something_that_is_not_a_key_verifies_no_algorithm(self):
        assert algorithms_for_key("not a key") == frozenset()


class TestCanonicalPem:
    def test_the_canonical_form_is_what_cryptography_writes(self, rsa_pem):
        assert normalize_pem(rsa_pem) == rsa_pem
        assert rsa_pem.endswith("-----\n") and not rsa_pem.endswith("\n\n")

    def test_crlf_indentation_and_blank_lines_are_removed(self, rsa_pem):
        messy = "\n\n  " + rsa_pem.replace("\n", "\r\n\t  \r\n") + "   \n"
        assert normalize_pem(messy) == rsa_pem

    def test_a_body_on_one_line_is_wrapped_at_64_characters(self, rsa_pem):
        lines = rsa_pem.strip().split("\n")
        one_line = lines[0] + "\n" + "".join(lines[1:-1]) + "\n" + lines[-1]
        assert normalize_pem(one_line) == rsa_pem

    def test_a_missing_trailing_newline_is_added(self, rsa_pem):
        assert normalize_pem(rsa_pem.rstrip("\n")) == rsa_pem

    def test_a_bundle_keeps_each_block_in_order(self, rsa_pem, ec_pem):
        assert normalize_pem(ec_pem + "\n\n" + rsa_pem.replace("\n", "\r\n")) == ec_pem + rsa_pem

    def test_text_that_is_not_clean_pem_is_only_tidied_line_by_line(self):
        assert normalize_pem("  hello \r\n\r\n world\t") == "hello\nworld\n"

    @pytest.mark.parametrize("text", ["", " ", "\n\r\n\t"])
    def test_blank_text_normalizes_to_empty(self, text):
        assert normalize_pem(text) == ""

    @given(st.text(alphabet=st.sampled_from(list("-BEGIN PUBLICKYEDA=+/\r\n\t ab01")), max_size=200))
    def test_normalizing_twice_changes_nothing(self, text):
        once = normalize_pem(text)
        assert normalize_pem(once) == once

    @given(st.text(max_size=100))
    def test_normalizing_arbitrary_text_twice_changes_nothing(self, text):
        once = normalize_pem(text)
        assert normalize_pem(once) == once

    @given(st.text(max_size=100))
    def test_normalizing_never_changes_anything_but_whitespace(self, text):
        assert "".join(normalize_pem(text).split()) == "".join(text.split())

    @given(data=st.data())
    def test_any_whitespace_reshuffle_of_a_real_pem_normalizes_to_the_same_text(self, ec_pem, data):
        pieces = re.split(r"\s+", ec_pem.strip())
        header, footer = " ".join(pieces[:3]), " ".join(pieces[-3:])
        body = "".join(pieces[3:-3])
        cuts = sorted(data.draw(st.sets(st.integers(1, len(body) - 1), max_size=8)))
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        spacing = st.sampled_from(["\n", "\r\n", " \n ", "\n\n", "\t\r\n"])
        text = data.draw(spacing).join([header, *chunks, footer]) + data.draw(spacing)
        assert normalize_pem(text) == ec_pem


class TestCaBundle:
    def test_one_certificate_is_a_bundle(self, ca_certificate_pem):
        assert len(load_ca_bundle_pem(ca_certificate_pem)) == 1

    def test_several_certificates_are_a_bundle(self, keys, ca_certificate_pem):
        other = certificate_pem(self_signed_certificate(keys.rsa2048, "other CA"))
        certificates = load_ca_bundle_pem(ca_certificate_pem + "\n" + other)
        assert [c.subject.rfc4514_string() for c in certificates] == ["CN=test CA", "CN=other CA"]

    def test_a_private_key_inside_a_bundle_is_refused(self, keys, ca_certificate_pem):
        with pytest.raises(InvalidKeyError) as caught:
            load_ca_bundle_pem(ca_certificate_pem + private_pem(keys.p256))
        assert str(caught.value) == (
            "jwks_ca_pem: this is a private key (PRIVATE KEY); provide only the public key or a certificate"
        )

    def test_a_public_key_inside_a_bundle_is_refused(self, ca_certificate_pem, rsa_pem):
        with pytest.raises(InvalidKeyError) as caught:
            load_ca_bundle_pem(ca_certificate_pem + rsa_pem)
        assert str(caught.value) == (
            "jwks_ca_pem: block 2 is a PUBLIC KEY; only CERTIFICATE blocks are allowed"
        )

    def test_a_certificate_that_does_not_parse_is_refused(self, ca_certificate_pem):
        broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        with pytest.raises(InvalidKeyError, match=r"^jwks_ca_pem: certificate 2 could not be parsed$"):
            load_ca_bundle_pem(ca_certificate_pem + broken)

    def test_garbage_is_not_a_bundle(self):
        with pytest.raises(InvalidKeyError, match=r"^jwks_ca_pem: PEM has no -----BEGIN"):
            load_ca_bundle_pem("not a certificate")
