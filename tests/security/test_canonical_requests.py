"""THREATS.md#t26 and #t27: the ACL check sees exactly what the handler will do, on both storage engines.

THREATS.md#t26 (names normalized after the check): a delegated administrator whose policy grants
`sys/policies/acl/*` but denies one policy must not reach that policy through another spelling of its name
(case, whitespace, percent-encoding, slashes). The same for `sys/policy/*` and `sys/namespaces/*`.

THREATS.md#t27 (parameter constraints on raw JSON): `allowed_parameters` / `denied_parameters` see the values that
will be stored, after the coercion the handler applies (comma-separated strings, JSON in strings,
whitespace, case of policy names).

Each test also shows the allowed spelling is served, so a test that refuses everything cannot pass.
"""

from __future__ import annotations

import json
import string
import uuid

import pytest
from api.api_objects import child_token, create_entity, put_policy, register
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vgtest

REFUSED = (400, 403, 404, 405)
NEW_TEXT = 'path "*" { capabilities = ["sudo", "read", "create", "update", "delete", "list"] }'
HARMLESS = 'path "secret/data/harmless" { capabilities = ["read"] }'

POLICY_MANAGER = """
path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policies/acl/policy-mgr" { capabilities = ["deny"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
path "sys/policy/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policy/policy-mgr" { capabilities = ["deny"] }
path "sys/policy/admin" { capabilities = ["deny"] }
"""

NAMESPACE_MANAGER = """
path "sys/namespaces/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/namespaces/prod" { capabilities = ["deny"] }
"""


def policy_text(api: vgtest.Client, name: str) -> str | None:
    resp = api.get(f"sys/policies/acl/{name}")
    return resp.json()["data"]["policy"] if resp.status_code == 200 else None


@pytest.fixture
def manager(api: vgtest.Client) -> vgtest.Client:
    """A token holding `policy-mgr`, in a namespace that also holds a protected `admin` policy."""
    put_policy(api, "policy-mgr", POLICY_MANAGER)
    put_policy(api, "admin", HARMLESS)
    return api.with_token(child_token(api, ["policy-mgr"]))


SPELLINGS_OF_POLICY_MGR = [
    "Policy-Mgr",
    "POLICY-MGR",
    "%20policy-mgr",
    "policy-mgr%20",
    "%09policy-mgr",
    "policy-mgr%0A",
    "%50olicy-mgr",  # percent-encoded "P"
    "policy-mgr/",
    "policy%2Dmgr",
]


@pytest.mark.parametrize("route", ["sys/policies/acl", "sys/policy"])
@pytest.mark.parametrize("spelling", SPELLINGS_OF_POLICY_MGR)
def test_a_denied_policy_cannot_be_rewritten_through_another_spelling(api, manager, route, spelling):
    before = policy_text(api, "policy-mgr")
    resp = manager.post(f"{route}/{spelling}", json={"policy": NEW_TEXT})
    assert resp.status_code in REFUSED, (spelling, resp.status_code, resp.text)
    assert policy_text(api, "policy-mgr") == before


@pytest.mark.parametrize("route", ["sys/policies/acl", "sys/policy"])
@pytest.mark.parametrize("spelling", ["%20admin", "Admin", "ADMIN%20", "admin/"])
def test_a_denied_policy_cannot_be_deleted_through_another_spelling(api, manager, route, spelling):
    resp = manager.delete(f"{route}/{spelling}")
    assert resp.status_code in REFUSED, (spelling, resp.status_code, resp.text)
    assert policy_text(api, "admin") == HARMLESS


@pytest.mark.parametrize("route", ["sys/policies/acl", "sys/policy"])
def test_the_manager_still_manages_other_policies_under_any_spelling(api, manager, route):
    assert manager.post(f"{route}/%20Team-A%20", json={"policy": HARMLESS}).status_code == 204
    assert policy_text(api, "team-a") == HARMLESS
    assert manager.get(f"{route}/TEAM-A").status_code == 200
    assert manager.delete(f"{route}/Team-a").status_code == 204
    assert policy_text(api, "team-a") is None


@pytest.fixture
def namespace_manager(api: vgtest.Client) -> vgtest.Client:
    assert api.post("sys/namespaces/prod").status_code == 200
    put_policy(api, "ns-mgr", NAMESPACE_MANAGER)
    return api.with_token(child_token(api, ["ns-mgr"]))


@pytest.mark.parametrize("spelling", ["prod/", "prod//", "/prod", "pr%6Fd/"])
def test_a_denied_namespace_cannot_be_reached_with_slashes(api, namespace_manager, spelling):
    body = {"custom_metadata": {"x": "y"}}
    assert namespace_manager.post(f"sys/namespaces/{spelling}", json=body).status_code in REFUSED
    assert namespace_manager.delete(f"sys/namespaces/{spelling}").status_code in REFUSED
    assert namespace_manager.get(f"sys/namespaces/{spelling}").status_code in REFUSED
    resp = api.get("sys/namespaces/prod")
    assert resp.status_code == 200
    assert resp.json()["data"]["custom_metadata"] == {}


def test_the_namespace_manager_still_manages_other_namespaces(api, namespace_manager):
    assert namespace_manager.post("sys/namespaces/dev/").status_code == 200
    assert namespace_manager.get("sys/namespaces/dev").status_code == 200
    assert namespace_manager.delete("sys/namespaces/dev/").status_code == 204
    assert api.get("sys/namespaces/dev").status_code == 404


SECRET_READER = """
path "secret/data/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/data/guarded" { capabilities = ["deny"] }
path "agent-registry/registration/display-name/*" { capabilities = ["read", "update", "delete"] }
path "agent-registry/registration/display-name/guarded" { capabilities = ["deny"] }
"""


@pytest.mark.parametrize("suffix", ["%0A", "%0a", "%0D%0A", "%09", "%7F"])
def test_a_control_character_cannot_reach_a_denied_object_through_a_path_route(api, suffix):
    """The router took `guarded\n` for `guarded` in a `{name:path}` route while the ACL check saw
    `guarded\n`: a write to a denied secret went through. Control characters are refused before routing."""
    api.post("secret/data/guarded", json={"data": {"v": "1"}})
    register(api, display_name="guarded")
    put_policy(api, "secret-reader", SECRET_READER)
    reader = api.with_token(child_token(api, ["secret-reader"]))
    for method, path, body in (
        ("POST", f"secret/data/guarded{suffix}", {"data": {"v": "2"}}),
        ("DELETE", f"secret/data/guarded{suffix}", None),
        ("GET", f"agent-registry/registration/display-name/guarded{suffix}", None),
        ("DELETE", f"agent-registry/registration/display-name/guarded{suffix}", None),
    ):
        resp = reader.request(method, path, json=body)
        assert resp.status_code == 400, (method, path, resp.status_code, resp.text)
        assert resp.json() == {"errors": ["invalid request path: control characters are not allowed"]}
    assert api.get("secret/data/guarded").json()["data"]["data"] == {"v": "1"}
    assert api.get("agent-registry/registration/display-name/guarded").status_code == 200


# -- hypothesis: generated spellings of policy names --------------------------------------------------------


def canonical_policy_name(decoded: str) -> str | None:
    """The documented rule (docs/api.md), written independently of the server: a path holding a control
    character is refused; trim, lowercase, then the name must be letters, digits, "-", "_", ".", "@" starting
    with a letter or digit; None = refused."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded):
        return None
    name = decoded.strip().lower()
    allowed = set(string.ascii_lowercase + string.digits + "-_.@")
    if not name or len(name) > 128 or not set(name) <= allowed or not name[0].isalnum():
        return None
    return name


LOOKALIKES = {"o": "о", "a": "а", "e": "е", "i": "і", "-": "‐", "l": "ⅼ"}  # Cyrillic, hyphen, roman numeral


@st.composite
def spelling(draw: st.DrawFn, base: str) -> tuple[str, str]:
    """(what goes into the URL, what the server decodes it to) for a variant of `base`."""
    decoded = ""
    for ch in base:
        if ch in LOOKALIKES and draw(st.integers(0, 9)) == 0:
            ch = LOOKALIKES[ch]
        elif ch.isalpha() and draw(st.booleans()):
            ch = ch.upper()
        decoded += ch
    pad = st.sampled_from(["", "", " ", "\t", "  "])
    decoded = draw(pad) + decoded + draw(pad)
    url = "".join(
        f"%{b:02X}" for ch in decoded for b in ch.encode()
    ) if draw(st.booleans()) else "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-_.@") else "".join(f"%{b:02x}" for b in ch.encode())
        for ch in decoded
    )
    return url, decoded


@pytest.mark.parametrize("route", ["sys/policies/acl", "sys/policy"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_a_write_happens_iff_the_policy_allows_the_canonical_name(api, manager, route, data):
    base = data.draw(st.sampled_from(["policy-mgr", "admin", "team-b"]))
    url, decoded = data.draw(spelling(base))
    text = f'path "secret/data/{uuid.uuid4().hex}" {{ capabilities = ["read"] }}'
    canonical = canonical_policy_name(decoded)
    resp = manager.post(f"{route}/{url}", json={"policy": text})
    allowed = canonical is not None and canonical not in ("policy-mgr", "admin")
    if allowed:
        assert resp.status_code == 204, (url, resp.text)
        assert policy_text(api, canonical) == text
    else:
        assert resp.status_code in REFUSED, (url, resp.status_code, resp.text)
        for name in ("policy-mgr", "admin"):
            assert policy_text(api, name) != text


# -- THREATS.md#t27: parameter constraints on the stored values --------------------------------------------

ENTITY_WRITER = """
path "identity/entity" { capabilities = ["create", "update"] denied_parameters = { policies = ["admin"] } }
path "identity/entity/name/*" { capabilities = ["create", "update"] denied_parameters = { policies = ["admin"] } }
"""

ADMIN_SPELLINGS = ["dev,admin", " admin", '["admin"]', ["Admin "], "ADMIN", ["dev", " ADMIN"], ' [ "dev" , "admin" ] ']


@pytest.fixture
def entity_writer(api: vgtest.Client) -> vgtest.Client:
    put_policy(api, "entity-writer", ENTITY_WRITER)
    return api.with_token(child_token(api, ["entity-writer"]))


def entity_policies(api: vgtest.Client, name: str) -> list[str] | None:
    resp = api.get(f"identity/entity/name/{name}")
    return resp.json()["data"]["policies"] if resp.status_code == 200 else None


@pytest.mark.parametrize("value", ADMIN_SPELLINGS, ids=json.dumps)
def test_denied_entity_policies_are_checked_as_stored(api, entity_writer, value):
    name = "e-" + uuid.uuid4().hex[:8]
    assert entity_writer.post("identity/entity", json={"name": name, "policies": value}).status_code == 403
    assert entity_policies(api, name) is None
    assert entity_writer.post(f"identity/entity/name/{name}", json={"policies": value}).status_code == 403
    assert entity_policies(api, name) is None
    # the same writer may assign other policies, in any of the accepted forms
    assert entity_writer.post(f"identity/entity/name/{name}", json={"policies": "dev, Ops"}).status_code == 200
    assert entity_policies(api, name) == ["dev", "ops"]


def test_denied_entity_policies_hold_on_update_by_id(api, entity_writer):
    entity_id = create_entity(api, policies=["dev"])
    resp = entity_writer.post("identity/entity", json={"id": entity_id, "policies": "dev,ADMIN"})
    assert resp.status_code == 403
    assert api.get(f"identity/entity/id/{entity_id}").json()["data"]["policies"] == ["dev"]


REGISTRAR = """
path "agent-registry/register" {
  capabilities = ["create", "update"]
  denied_parameters = { ceiling_policies = ["admin"] }
}
"""


@pytest.mark.parametrize("value", [["ADMIN"], "dev,admin", '["dev", " Admin"]'], ids=json.dumps)
def test_denied_ceiling_policies_are_checked_as_stored(api, value):
    put_policy(api, "registrar", REGISTRAR)
    registrar = api.with_token(child_token(api, ["registrar"]))
    entity_id = create_entity(api)
    body = {"display_name": "a-" + uuid.uuid4().hex[:8], "entity_id": entity_id}
    assert registrar.post("agent-registry/register", json={**body, "ceiling_policies": value}).status_code == 403
    assert api.list("agent-registry/registration/id").status_code == 404  # nothing was written
    assert registrar.post("agent-registry/register", json={**body, "ceiling_policies": "Dev"}).status_code == 200


TOKEN_MAKER = """
path "auth/token/create" { capabilities = ["update"] allowed_parameters = { policies = ["dev-*"] "*" = [] } }
"""


@pytest.mark.parametrize("value", ["dev-a,admin", '["dev-a","admin"]', "dev-a, Admin"], ids=json.dumps)
def test_allowed_token_policies_are_checked_as_stored(api, value):
    put_policy(api, "token-maker", TOKEN_MAKER)
    put_policy(api, "admin", HARMLESS)
    put_policy(api, "dev-a", HARMLESS)
    maker = api.with_token(child_token(api, ["token-maker", "admin", "dev-a"]))
    assert maker.post("auth/token/create", json={"policies": value}).status_code == 403
    resp = maker.post("auth/token/create", json={"policies": " DEV-A "})
    assert resp.status_code == 200, resp.text
    assert resp.json()["auth"]["policies"] == ["default", "dev-a"]


@pytest.mark.parametrize("value", ["", [], " , ", "[]", ' [ "" ] '], ids=json.dumps)
def test_token_policies_sent_empty_are_checked_as_the_parents_they_become(api, value):
    """Sent but empty, `policies` gives the child the parent's policies: the check judges those, so an
    allowed_parameters list cannot be passed with an empty value (THREATS.md#t27)."""
    put_policy(api, "token-maker", TOKEN_MAKER)
    put_policy(api, "admin", HARMLESS)
    maker = api.with_token(child_token(api, ["token-maker", "admin"]))
    resp = maker.post("auth/token/create", json={"policies": value})
    assert resp.status_code == 403, resp.text


BANNED_ISSUER = "https://banned.example.com"
ISSUER_RULES = f"""
path "sys/config/oauth-resource-server/*" {{
  capabilities = ["create", "update", "read"]
  denied_parameters = {{ issuer_id = ["{BANNED_ISSUER}"] }}
}}
path "identity/entity-alias" {{
  capabilities = ["create", "update"]
  denied_parameters = {{ issuer = ["{BANNED_ISSUER}"] }}
}}
"""


@pytest.mark.parametrize(
    "spelled", ["HTTPS://BANNED.EXAMPLE.COM", "https://banned.example.com/", "https://Banned.example.com/"]
)
def test_an_issuer_is_checked_as_stored(api, spelled):
    """issuer_id and an alias's issuer are stored lowercased without a trailing "/" (DECISIONS.md#d19); they
    used to be checked as sent, so another spelling passed a denied_parameters rule (THREATS.md#t27)."""
    put_policy(api, "issuer-rules", ISSUER_RULES)
    writer = api.with_token(child_token(api, ["issuer-rules"]))
    profile = {"issuer_id": spelled, "jwks_uri": "https://idp.example.com/jwks.json"}
    assert writer.post("sys/config/oauth-resource-server/p1", json=profile).status_code == 403
    assert api.get("sys/config/oauth-resource-server/p1").status_code == 404
    assert api.post("sys/config/oauth-resource-server/p1", json=profile).status_code in (200, 204)
    alias = {"name": "a", "canonical_id": create_entity(api), "issuer": spelled, "external_id": "x"}
    assert writer.post("identity/entity-alias", json=alias).status_code == 403
    assert api.list("identity/entity-alias/id").status_code == 404  # nothing was written
    allowed = {**profile, "issuer_id": "HTTPS://Better.example.com/"}
    assert writer.post("sys/config/oauth-resource-server/p2", json=allowed).status_code in (200, 204)
    assert api.get("sys/config/oauth-resource-server/p2").json()["data"]["issuer_id"] == "https://better.example.com"


POLICY_NAMES = st.sampled_from(["dev", "ops", "admin", "Admin", " admin", "ADMIN ", "dev-x", "Ops"])


@st.composite
def policy_list(draw: st.DrawFn) -> tuple[object, list[str]]:
    """(the request value in one of the accepted forms, the names it stands for)."""
    names = draw(st.lists(POLICY_NAMES, min_size=1, max_size=4))
    form = draw(st.sampled_from(["list", "comma", "json-in-string"]))
    if form == "list":
        value: object = names
    elif form == "comma":
        value = ",".join(names)
    else:
        value = json.dumps(names)
    return value, names


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=policy_list())
def test_property_an_entity_write_happens_iff_no_stored_policy_is_denied(api, entity_writer, generated):
    value, names = generated
    stored = list(dict.fromkeys(n.strip().lower() for n in names))
    name = "e-" + uuid.uuid4().hex[:8]
    resp = entity_writer.post("identity/entity", json={"name": name, "policies": value})
    if "admin" in stored:
        assert resp.status_code == 403, (value, resp.text)
        assert entity_policies(api, name) is None
    else:
        assert resp.status_code == 200, (value, resp.text)
        assert entity_policies(api, name) == stored
