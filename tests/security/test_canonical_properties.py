"""THREATS.md#t26 and #t27, in-process: the canonical forms the ACL check and the routes share.

Properties over generated variants: every spelling of a name either has the one canonical form or is refused,
and every accepted form of a list of policy names coerces to the same stored list (so a parameter check on
the coerced value cannot be sidestepped by choosing another form).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultguard.service.access.canonical import NAMESPACE_NAME, POLICY_NAME, NotCanonical, canonical_path
from vaultguard.service.api import fields as f
from vaultguard.service.authz.acl import AccessRequest, compile_acl
from vaultguard.service.authz.policy import parse_policy
from vaultguard.service.errors import ApiError

NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_.@"
names = st.text(NAME_CHARS, min_size=1, max_size=20).filter(lambda n: n[0].isalnum())
LOOKALIKES = {"a": "а", "o": "о", "e": "е", "-": "‐", "i": "і"}


@st.composite
def variant(draw: st.DrawFn, name: str) -> str:
    out = ""
    for ch in name:
        if ch in LOOKALIKES and draw(st.integers(0, 7)) == 0:
            ch = LOOKALIKES[ch]
        elif draw(st.booleans()):
            ch = ch.upper()
        out += ch
    pad = st.sampled_from(["", " ", "\t", "\n", "  "])
    return draw(pad) + out + draw(pad)


@settings(deadline=None)  # the machine is shared; a slow first parse is not a failure
@given(data=st.data(), name=names)
def test_a_policy_name_spelling_is_its_canonical_name_or_refused(data, name):
    spelled = data.draw(variant(name))
    try:
        canonical = POLICY_NAME.canonicalize(spelled)
    except NotCanonical as exc:
        assert str(exc).startswith('name: "')
        assert any(ch in spelled for ch in LOOKALIKES.values())  # only look-alikes are refused
        return
    assert canonical == name
    assert POLICY_NAME.canonicalize(canonical) == canonical  # idempotent


@settings(deadline=None)  # the machine is shared; a slow first parse is not a failure
@given(data=st.data(), name=names.filter(lambda n: "@" not in n and n not in ("sys", "auth", "identity")))
def test_the_acl_path_of_a_policy_route_names_the_policy_the_route_writes(data, name):
    spelled = data.draw(variant(name))
    acl = compile_acl([parse_policy("p", f'path "sys/policies/acl/*" {{ capabilities = ["update"] }}\n'
                                         f'path "sys/policies/acl/{name}" {{ capabilities = ["deny"] }}')])
    try:
        path, canonical = canonical_path("sys/policies/acl/" + spelled, spelled, POLICY_NAME)
    except NotCanonical:
        return
    assert canonical == name
    assert not acl.evaluate(AccessRequest(path, "update")).allowed


@pytest.mark.parametrize("spelled", ["prod", "prod/", "/prod", "prod//", "//prod/"])
def test_namespace_names_lose_their_slashes(spelled):
    assert canonical_path("sys/namespaces/" + spelled, spelled, NAMESPACE_NAME) == ("sys/namespaces/prod", "prod")


@pytest.mark.parametrize("spelled", ["a/b", "pr od", "%70rod", "sys", ""])
def test_namespace_names_without_a_canonical_form_are_refused(spelled):
    with pytest.raises(NotCanonical):
        NAMESPACE_NAME.canonicalize(spelled)


POLICY_NAMES = st.lists(st.sampled_from(["dev", "Dev ", " ADMIN", "admin", "ops", "OPS", "x-1"]), max_size=5)


@settings(deadline=None)  # the machine is shared; a slow first parse is not a failure
@given(listed=POLICY_NAMES, form=st.sampled_from(["list", "comma", "comma-spaced", "json-in-string"]))
def test_every_form_of_a_policy_list_coerces_to_the_stored_list(listed, form):
    if form == "list":
        value: object = listed
    elif form == "comma":
        value = ",".join(listed)
    elif form == "comma-spaced":
        value = " , ".join(listed)
    else:
        value = json.dumps(listed)
    values, _ = f.parse({"policies": value}, {"policies": f.Field("policies", 256)})
    assert values["policies"] == list(dict.fromkeys(n.strip().lower() for n in listed if n.strip()))


@settings(deadline=None)  # the machine is shared; a slow first parse is not a failure
@given(listed=POLICY_NAMES.filter(lambda names: any(n.strip().lower() == "admin" for n in names)),
       form=st.sampled_from(["list", "comma", "json-in-string"]))
def test_a_denied_policy_is_denied_in_every_form(listed, form):
    value = listed if form == "list" else ",".join(listed) if form == "comma" else json.dumps(listed)
    values, _ = f.parse({"policies": value}, {"policies": f.Field("policies", 256)})
    acl = compile_acl([parse_policy("p", 'path "identity/entity" { capabilities = ["create"] '
                                         'denied_parameters = { policies = ["admin"] } }')])
    assert not acl.evaluate(AccessRequest("identity/entity", "create", values)).allowed


def test_a_policy_list_that_is_not_a_list_names_the_field():
    with pytest.raises(ApiError) as err:
        f.parse({"policies": {"a": 1}}, {"policies": f.Field("policies", 256)})
    assert 'field "policies"' in err.value.errors[0]
