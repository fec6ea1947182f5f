"""Unknown values as Terraform really sends them reach resource code as tf's `Unknown`, and only as that.

`tests/testdata/terraform/unknown_values.jsonl` holds protocol-6 requests captured from Terraform 1.15.5 (the
bundled release) and 1.11.4, planning a configuration with `count`, `for_each` over a module, `dynamic`
blocks with known and unknown `for_each`, string templates with a known prefix (`"agent-${...}"`), list
and map elements known only after apply, and data sources whose arguments are unknown. Each line is one
whole request (base64 of the protobuf message), replayed here through the provider's servicer.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from tf.gen import tfplugin_pb2 as pb
from tf.types import Unknown
from tf.utils import read_dynamic_value

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.servicer import VaultProviderServicer
from vaultguard.provider.unknown_values import canonical_msgpack, canonicalize_request

CAPTURED = Path(__file__).parents[2] / "testdata" / "terraform" / "unknown_values.jsonl"
RECORDS = [json.loads(line) for line in CAPTURED.read_text().splitlines() if line.strip()]


def _request(record: dict[str, Any]) -> Any:
    return getattr(pb, record["rpc"]).Request.FromString(base64.b64decode(record["request"]))


def _raw(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=msgpack.ExtType, raw=False, strict_map_key=False)


def _leaves(value: Any, path: tuple = ()) -> dict[tuple, Any]:
    """Every scalar of a decoded value by its path; unknowns (in either decoding) as the string "?"."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, (*path, key)).items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, (*path, i)).items()}
    if value is Unknown or (isinstance(value, msgpack.ExtType) and value.code in (0, 12)):
        return {path: "?"}
    return {path: value}


def _dynamic_values(request: Any) -> list[Any]:
    return [v for f, v in request.ListFields() if f.message_type is pb.DynamicValue.DESCRIPTOR and v.msgpack]


def _id(record: dict[str, Any]) -> str:
    return f"{record['terraform']}-{record['rpc']}-{record['type_name']}"


def test_the_corpus_holds_refined_unknowns_from_both_terraform_releases() -> None:
    # The corpus is only worth something if it has what tf could not decode: extension 12.
    for release in ("1.15.5", "1.11.4"):
        refined = [
            r
            for r in RECORDS
            if r["terraform"] == release
            and any(b"\xc7" in v.msgpack or b"\xd4\x0c" in v.msgpack for v in _dynamic_values(_request(r)))
        ]
        assert len(refined) >= 10, release


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_every_unknown_becomes_tfs_unknown_and_every_known_value_stays(record: dict[str, Any]) -> None:
    request = _request(record)
    before = [_leaves(_raw(v.msgpack)) for v in _dynamic_values(request)]

    canonicalize_request(request)

    after = [_leaves(read_dynamic_value(v)) for v in _dynamic_values(request)]
    assert after == before
    for leaves in after:
        assert not any(isinstance(v, msgpack.ExtType) for v in leaves.values())


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_the_servicer_validates_and_plans_captured_requests_without_errors(record: dict[str, Any]) -> None:
    # Validation and planning need no server; values unknown until apply are checked at apply.
    servicer = VaultProviderServicer(VaultProvider(environ={}))

    response = getattr(servicer, record["rpc"])(_request(record), context=None)

    assert [(d.summary, d.detail) for d in response.diagnostics if d.severity == d.ERROR] == []


def test_the_plan_keeps_unknown_what_terraform_sent_unknown() -> None:
    plans = [r for r in RECORDS if r["rpc"] == "PlanResourceChange" and r["type_name"] == "vault_agent_registration"]
    servicer = VaultProviderServicer(VaultProvider(environ={}))
    for record in plans:
        request = _request(record)
        config_unknown = {
            k for k, v in _raw(request.config.msgpack).items() if isinstance(v, msgpack.ExtType)
        }

        response = servicer.PlanResourceChange(request, context=None)

        planned = _raw(response.planned_state.msgpack)
        assert config_unknown
        assert {k for k in config_unknown if planned[k] == msgpack.ExtType(0, b"\x00")} == config_unknown


def test_unknowns_at_any_depth_and_in_any_encoding_are_rewritten() -> None:
    refined = msgpack.ExtType(12, msgpack.packb({1: False, 2: "agent-"}))
    value = {
        "name": refined,
        "list": ["known", refined, msgpack.ExtType(0, b"")],
        "blocks": [{"key_id": refined, "pem": "x"}],
        "map": {"a": {"b": [refined]}},
        "whole": msgpack.ExtType(12, msgpack.packb({1: False})),
    }

    decoded = msgpack.unpackb(canonical_msgpack(msgpack.packb(value)), ext_hook=lambda c, d: (c, d))

    unknown = (0, b"\x00")
    assert decoded == {
        "name": unknown,
        "list": ["known", unknown, unknown],
        "blocks": [{"key_id": unknown, "pem": "x"}],
        "map": {"a": {"b": [unknown]}},
        "whole": unknown,
    }


def test_values_without_refined_unknowns_pass_through_byte_for_byte() -> None:
    plain = msgpack.packb({"a": [1, 2.5, "x", None, True], "u": msgpack.ExtType(0, b"\x00")})
    other_extension = msgpack.packb({"a": msgpack.ExtType(5, b"zz")})

    assert canonical_msgpack(plain) is plain
    assert canonical_msgpack(other_extension) is other_extension
    assert canonical_msgpack(b"") == b""


@pytest.mark.parametrize("size", [1, 2, 3, 4, 8, 16, 300, 70000])
def test_an_unknown_in_every_extension_encoding_is_rewritten(size: int) -> None:
    """Every msgpack extension form (fixext 1 to 16, ext 8, 16 and 32) is looked into, whatever its length."""
    value = {"a": msgpack.ExtType(0, b"\x01" * size), "b": "known"}

    decoded = msgpack.unpackb(canonical_msgpack(msgpack.packb(value)), ext_hook=lambda c, d: (c, d))

    assert decoded == {"a": (0, b"\x00"), "b": "known"}
