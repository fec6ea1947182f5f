"""THREATS.md#t26 and #t27 end to end: on every route of the served app that takes an object's name or path
from its URL, or stores a body value other than as sent, the ACL check judges the request the route carries
out (DECISIONS.md#d55, DECISIONS.md#d43).

The property, over generated variants of a request (case, surrounding whitespace, any character
percent-encoded, doubled and trailing slashes, Unicode look-alikes and compatibility forms; lists as comma
strings or JSON in a string; numbers and issuers spelled differently):

- the request is refused with 403 exactly when the policy refuses the CANONICAL target with the values that
  would be stored; a request with no canonical form is refused with 400 (404/405 when no route takes it);
- an allowed write is stored at exactly the canonical target, with exactly the canonical values (read back
  with the root token);
- a refused request writes nothing (the protected objects read back unchanged).

The canonical forms are written here from docs/api.md, independently of the server. The routes come from the
running server's OpenAPI document: `test_every_route_is_covered` fails naming any route that is neither
tested here nor listed in AS_SENT with the reason it needs no test.

Requests go out through http.client byte for byte: `requests` would undo the percent-encoding of unreserved
characters (`%2D` becomes `-`) before the server saw it. One server per storage engine for the session (the
shared `server` fixture), one namespace for this module; `derandomize` keeps CI reproducible.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vgtest

EXAMPLES = settings(
    max_examples=6,
    deadline=None,  # a shared 2-core machine: a slow answer is not a failure
    derandomize=True,  # the same examples on every run and in CI
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- the canonical forms (docs/api.md, "What the ACL check sees"), independent of the server --------------

_POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,127}")
_NAMESPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
RESERVED_NAMESPACES = {"sys", "agent-registry", "identity", "auth", "secret", "cubbyhole", "audit", "root"}


def policy_name(decoded: str) -> str | None:
    """Trimmed and lowercased, then letters, digits, "-", "_", ".", "@", starting with a letter or digit."""
    name = decoded.strip().lower()
    return name if _POLICY_NAME.fullmatch(name) else None


def namespace_name(decoded: str) -> str | None:
    """Surrounding "/" dropped, then one name segment; case kept."""
    name = decoded.strip("/")
    return name if _NAMESPACE_NAME.fullmatch(name) and name not in RESERVED_NAMESPACES else None


def audit_device(decoded: str) -> str | None:
    return decoded.strip("/")


def verbatim(decoded: str) -> str | None:
    """Entities, aliases, groups, registrations, profiles, ids, secrets: the name is the object's name."""
    return decoded


def policy_names(value: Any) -> list[str] | None:
    """A list of policy names as stored: a list, a comma-separated string or a string holding a JSON list;
    each trimmed and lowercased, empties and repeats dropped. None when it is not a list of strings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = text.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return list(dict.fromkeys(item.strip().lower() for item in value if item.strip()))


def issuer(value: str) -> str:
    """ASCII letters lowercased, one trailing "/" dropped (DECISIONS.md#d19)."""
    lowered = value.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))
    return lowered[:-1] if lowered.endswith("/") else lowered


def version_numbers(value: Any) -> list[int] | None:
    """KV `versions`: a list or a comma-separated string of positive integers; None when it is not one."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    else:
        items = value if isinstance(value, list) else [value]
    if not items:
        return None
    numbers: list[int] = []
    for item in items:
        if isinstance(item, str) and item.strip().isdigit() and item.strip().isascii():
            item = int(item.strip())
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            return None
        numbers.append(item)
    return list(dict.fromkeys(numbers))


def has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def identity_name_ok(name: str) -> bool:
    return bool(name.strip()) and not has_control(name)


def kv_path_ok(path: str) -> bool:
    return not has_control(path) and all(seg not in ("", ".", "..") for seg in path.split("/"))


def profile_name_ok(name: str) -> bool:
    return bool(_PROFILE_NAME.fullmatch(name)) and ".." not in name and name != "."


def any_name(_name: str) -> bool:
    return True


# -- the server, byte for byte ------------------------------------------------------------------------------


class Raw:
    """One keep-alive HTTP/1.1 connection; the path is sent exactly as given."""

    def __init__(self, url: str, token: str, namespace: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.token, self.namespace = token, namespace
        self.conn: http.client.HTTPConnection | None = None

    def with_token(self, token: str) -> Raw:
        return Raw(f"http://{self.host}:{self.port}", token, self.namespace)

    def send(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any]:
        """(status, the JSON answer or None) for `method /v1/<path>`; `path` is already percent-encoded."""
        sent = {"X-Vault-Token": self.token, "X-Vault-Namespace": self.namespace, "X-Vault-Request": "true"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, "/v1/" + path, body=data, headers=sent)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the server closed an idle keep-alive connection: once more on a new one
                self.conn = None
                if attempt == 2:
                    raise
        return resp.status, (json.loads(raw) if raw.strip() else None)

    def data(self, path: str) -> dict | None:
        status, answer = self.send("GET", path)
        return answer["data"] if status == 200 else None


def exact(name: str) -> str:
    """`name` as a URL path segment that decodes to exactly `name`."""
    return quote(name, safe="")


def fill(template: str, segment: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _m: segment, template, count=1)


# -- generated spellings ------------------------------------------------------------------------------------

LOOKALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і", "d": "ԁ", "-": "‐", "k": "K"}
PADDING = ["", " ", "\t", "\n", "\u00a0", "\u3000", "\u200b", "/", "//"]
URL_LITERAL = set(string.ascii_letters + string.digits + "-_.~@/")


def fullwidth(ch: str) -> str:
    """The compatibility (fullwidth) form of an ASCII character: NFKC maps it back."""
    return chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch


@st.composite
def spelling(draw: st.DrawFn, base: str) -> str:
    """A variant of `base`, as the server will decode it. Each spelling uses a few kinds of change, so
    one that only changes case (or only pads) is as likely as one that mixes everything."""
    kinds = draw(st.sets(st.sampled_from(["case", "lookalike", "fullwidth", "pad"])))
    out = ""
    for ch in base:
        how = draw(st.sampled_from(["same", *sorted(kinds - {"pad"})]))
        if how == "case":
            ch = ch.swapcase()
        elif how == "lookalike":
            ch = LOOKALIKES.get(ch.lower(), ch)
        elif how == "fullwidth":
            ch = fullwidth(ch)
        out += ch
    if "pad" in kinds:
        out = draw(st.sampled_from(PADDING)) + out + draw(st.sampled_from(PADDING))
    return out


@st.composite
def encoded(draw: st.DrawFn, decoded: str) -> str:
    """`decoded` as sent in a URL: any character may be percent-encoded (upper or lower hex digits)."""
    out = ""
    for ch in decoded:
        if ch in URL_LITERAL and draw(st.integers(0, 3)) > 0:
            out += ch
        else:
            digits = "".join(f"%{b:02X}" for b in ch.encode())
            out += digits.lower() if draw(st.booleans()) else digits
    return out


# -- the names in the path: every route that takes one ------------------------------------------------------


@dataclass(frozen=True)
class NameRoute:
    """A route that takes an object's name from its URL.

    `protected` names the object the test's policy denies (a key of World.names); `body` is what a write
    sends (None: no body); `readback` is where the root token reads what the route stores (its template
    filled with the canonical name) and `marker_at` where the written marker is in that `data`; `creates`
    says which canonical names a POST/PUT must create (the rest may be refused with 400 or 404)."""

    methods: tuple[str, ...]
    canonical: Callable[[str], str | None]
    protected: str
    body: Callable[[World, str, str], dict] | None = None  # (world, marker, name) → the body
    readback: str | None = None
    marker_at: tuple[str, ...] = ()
    creates: Callable[[str], bool] | None = None
    guard: str | None = None  # where the protected object reads back, when not `readback`


def _meta(key: str) -> Callable[[World, str, str], dict]:
    return lambda _world, marker, _name: {key: {"m": marker}}


def _policy_body(_world: World, marker: str, _name: str) -> dict:
    return {"policy": f'path "secret/data/{marker}" {{ capabilities = ["read"] }}'}


def _profile_body(_world: World, marker: str, name: str) -> dict:
    """An issuer of the profile's own (issuers are unique, and immutable), and the marker in `audiences`."""
    host = hashlib.sha256(name.encode()).hexdigest()[:16]
    return {"issuer_id": f"https://{host}.example.com", "jwks_uri": "https://idp.example.com/jwks.json",
            "audiences": [marker]}  # fmt: skip


ITEM = ("GET", "POST", "PUT", "DELETE")
WRITES = ("POST", "PUT", "PATCH")
POLICY = dict(methods=ITEM, canonical=policy_name, protected="policy", body=_policy_body,
              readback="sys/policies/acl/{name}", marker_at=("policy",), creates=any_name)  # fmt: skip
VERSIONS = dict(methods=("POST", "PUT"), canonical=verbatim, protected="secret",
                body=lambda _w, _m, _n: {"versions": [1]}, guard="secret/metadata/{path}")  # fmt: skip

NAME_ROUTES: dict[str, NameRoute] = {
    "sys/policies/acl/{name}": NameRoute(**POLICY),
    "sys/policy/{name}": NameRoute(**POLICY),
    "sys/namespaces/{name:path}": NameRoute(
        ITEM, namespace_name, "namespace", _meta("custom_metadata"), "sys/namespaces/{name}",
        ("custom_metadata", "m"), any_name,
    ),
    "sys/audit-hash/{path:path}": NameRoute(
        ("POST", "PUT"), audit_device, "audit_device", lambda _w, _m, _n: {"input": "x"}
    ),
    "sys/activation-flags/{feature}/activate": NameRoute(("POST", "PUT"), verbatim, "flag", lambda _w, _m, _n: {}),
    "identity/entity/id/{entity_id}": NameRoute(
        ITEM, verbatim, "entity_id", _meta("metadata"), "identity/entity/id/{id}", ("metadata", "m")
    ),
    "identity/entity/name/{name}": NameRoute(
        ITEM, verbatim, "entity_name", _meta("metadata"), "identity/entity/name/{name}", ("metadata", "m"),
        identity_name_ok,
    ),
    "identity/entity-alias/id/{alias_id}": NameRoute(
        ITEM, verbatim, "alias_id", _meta("custom_metadata"), "identity/entity-alias/id/{id}",
        ("custom_metadata", "m"),
    ),
    "identity/group/id/{group_id}": NameRoute(
        ITEM, verbatim, "group_id", _meta("metadata"), "identity/group/id/{id}", ("metadata", "m")
    ),
    "identity/group/name/{name}": NameRoute(
        ITEM, verbatim, "group_name", _meta("metadata"), "identity/group/name/{name}", ("metadata", "m"),
        identity_name_ok,
    ),
    "identity/group-alias/id/{alias_id}": NameRoute(
        ITEM, verbatim, "group_alias_id", lambda _w, marker, _n: {"name": marker}, "identity/group-alias/id/{id}",
        ("name",),
    ),
    "agent-registry/registration/id/{reg_id}": NameRoute(
        ITEM, verbatim, "registration_id",
        lambda w, marker, _n: {"display_name": "guarded", "entity_id": w.names["registered_entity"],
                               "description": marker},
        "agent-registry/registration/id/{id}", ("description",),
    ),  # fmt: skip
    "agent-registry/registration/display-name/{name:path}": NameRoute(
        ITEM, verbatim, "registration_name",
        lambda w, marker, _n: {"entity_id": w.names["registered_entity"], "description": marker},
        "agent-registry/registration/display-name/{name}", ("description",),
    ),
    "agent-registry/registration/entity-id/{entity_id}": NameRoute(("GET",), verbatim, "registered_entity"),
    "sys/config/oauth-resource-server/{name}": NameRoute(
        ITEM, verbatim, "profile_name", _profile_body, "sys/config/oauth-resource-server/{name}", ("audiences",),
        profile_name_ok,
    ),
    "sys/config/oauth-resource-server/id/{config_id}": NameRoute(("GET",), verbatim, "config_id"),
    "secret/data/{path:path}": NameRoute(
        ("GET", "POST", "PUT", "PATCH", "DELETE"), verbatim, "secret", lambda _w, marker, _n: {"data": {"m": marker}},
        "secret/data/{path}", ("data", "m"), kv_path_ok, guard="secret/metadata/{path}",
    ),
    "secret/metadata/{path:path}": NameRoute(
        ("GET", "POST", "PUT", "PATCH", "DELETE"), verbatim, "secret", _meta("custom_metadata"),
        "secret/metadata/{path}", ("custom_metadata", "m"), kv_path_ok,
    ),
    "secret/delete/{path:path}": NameRoute(**VERSIONS),
    "secret/undelete/{path:path}": NameRoute(**VERSIONS),
    "secret/destroy/{path:path}": NameRoute(**VERSIONS),
    "secret/subkeys/{path:path}": NameRoute(("GET",), verbatim, "secret", guard="secret/metadata/{path}"),
}


# -- the world: the protected objects and the policies that deny them ---------------------------------------


@dataclass
class World:
    root: Raw  # the root token, in the module's namespace
    actor: Raw  # allowed everything on every NAME_ROUTES template but the protected objects
    params: Raw | None = None  # holds PARAMS_POLICY, under the parameter constraints it sets
    names: dict[str, str] = field(default_factory=dict)  # what each NameRoute.protected stands for
    snapshots: dict[str, Any] = field(default_factory=dict)

    def snapshot(self, template: str, name: str) -> Any:
        """The protected object at `template` as first read (before any example ran against it)."""
        key = fill(template, exact(name))
        if key not in self.snapshots:
            self.snapshots[key] = self.root.data(key)
        return self.snapshots[key]

    def must(self, method: str, path: str, body: Any = None) -> dict:
        status, answer = self.root.send(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer)
        return (answer or {}).get("data") or {}


def _pattern(template: str, segment: str) -> str:
    """The ACL path for `template` with its parameter replaced by `segment` (`*` at the end, `+` inside)."""
    if segment == "*" and not template.endswith("}"):
        segment = "+"
    return fill(template, segment)


def actor_policy(names: dict[str, str]) -> str:
    blocks = []
    for template, route in NAME_ROUTES.items():
        blocks.append(f'path "{_pattern(template, "*")}" {{ capabilities = {ALL_CAPABILITIES} }}')
        blocks.append(f'path "{_pattern(template, names[route.protected])}" {{ capabilities = ["deny"] }}')
    return "\n".join(blocks)


ALL_CAPABILITIES = '["create", "read", "update", "delete", "list", "patch"]'
BANNED_ISSUER = "https://banned.example.com"


@pytest.fixture(scope="module")
def world(server: vgtest.Server) -> Iterator[World]:
    namespace = "canon" + uuid.uuid4().hex[:8]
    root = Raw(server.url, server.root_token, "")
    assert root.send("POST", f"sys/namespaces/{namespace}")[0] == 200
    w = World(Raw(server.url, server.root_token, namespace), Raw(server.url, "", namespace))
    n = w.names
    n.update(policy="policy-mgr", namespace="prod", audit_device="file", flag="oauth-resource-server",
             entity_name="guarded", group_name="guarded", registration_name="guarded", profile_name="guarded",
             secret="guarded")  # fmt: skip
    w.must("POST", "sys/policies/acl/policy-mgr", {"policy": 'path "secret/data/x" { capabilities = ["read"] }'})
    w.must("POST", "sys/namespaces/prod", {"custom_metadata": {"keep": "1"}})
    profile = "sys/config/oauth-resource-server/"
    for name, issuer_id in (("guarded", "https://guarded.example.com"), ("banned", BANNED_ISSUER)):
        w.must("POST", profile + name, {"issuer_id": issuer_id, "jwks_uri": "https://idp.example.com/jwks.json"})
    n["config_id"] = w.must("GET", profile + "guarded")["config_id"]
    n["entity_id"] = w.must("POST", "identity/entity", {"name": "guarded", "metadata": {"keep": "1"}})["id"]
    alias = {"name": "guarded", "canonical_id": n["entity_id"], "issuer": "https://guarded.example.com",
             "external_id": "guarded"}  # fmt: skip
    n["alias_id"] = w.must("POST", "identity/entity-alias", alias)["id"]
    accessor = w.must("GET", f"identity/entity-alias/id/{n['alias_id']}")["mount_accessor"]
    n["group_id"] = w.must("POST", "identity/group", {"name": "guarded", "metadata": {"keep": "1"}})["id"]
    external = w.must("POST", "identity/group", {"name": "guarded-external", "type": "external"})["id"]
    group_alias = {"name": "guarded", "mount_accessor": accessor, "canonical_id": external}
    n["group_alias_id"] = w.must("POST", "identity/group-alias", group_alias)["id"]
    n["registered_entity"] = w.must("POST", "identity/entity", {"name": "registered"})["id"]
    registration = {"display_name": "guarded", "entity_id": n["registered_entity"], "description": "keep"}
    n["registration_id"] = w.must("POST", "agent-registry/register", registration)["id"]
    w.must("POST", "secret/data/guarded", {"data": {"keep": "1"}})
    w.must("POST", "sys/policies/acl/canon-actor", {"policy": actor_policy(n)})
    w.must("POST", "sys/policies/acl/canon-params", {"policy": PARAMS_POLICY})
    for name in ("admin", "dev-a", "dev-b", "ops"):
        w.must("POST", f"sys/policies/acl/{name}", {"policy": 'path "secret/data/x" { capabilities = ["read"] }'})
    _, answer = w.root.send("POST", "auth/token/create", {"policies": ["canon-actor"]})
    w.actor = w.root.with_token(answer["auth"]["client_token"])
    _, answer = w.root.send("POST", "auth/token/create", {"policies": PARAMS_PARENT_POLICIES})
    w.params = w.root.with_token(answer["auth"]["client_token"])
    for template, route in NAME_ROUTES.items():  # the protected objects, before any example ran
        if route.guard or route.readback:
            assert w.snapshot(route.guard or route.readback, n[route.protected]) is not None, template
    yield w
    root.send("DELETE", f"sys/namespaces/{namespace}")  # best effort: the namespace still holds objects


def _read(w: World, template: str, name: str) -> dict | None:
    return w.root.data(fill(template, exact(name)))


def _dig(data: dict | None, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def served_segment(template: str, decoded: str) -> str | None:
    """The name the route receives for the decoded segment, or None when no route takes the path.

    A `{name}` parameter holds no "/"; a path whose only "/" are trailing is served without them (docs/api.md:
    a trailing "/" no route takes). A `{name:path}` parameter takes the segment as it is."""
    if ":path}" in template or "/" not in decoded:
        return decoded
    trimmed = decoded.rstrip("/")
    if template.endswith("}") and trimmed and "/" not in trimmed:
        return trimmed
    return None


def _method_groups(methods: tuple[str, ...]) -> list[tuple[str, ...]]:
    """PUT is POST's handler on every route: one case draws either."""
    groups = [(m,) for m in methods if m not in ("POST", "PUT")]
    return groups + ([tuple(m for m in methods if m in ("POST", "PUT"))] if {"POST", "PUT"} & set(methods) else [])


NAME_CASES = [(t, group) for t, route in NAME_ROUTES.items() for group in _method_groups(route.methods)]
REWRITTEN = [(t, m) for t, m in NAME_CASES if NAME_ROUTES[t].canonical is not verbatim]
VERBATIM = [(t, m) for t, m in NAME_CASES if NAME_ROUTES[t].canonical is verbatim]


def _ids(cases: list) -> list[str]:
    return [f"{'|'.join(methods)} {template}" for template, methods in cases]


@pytest.mark.parametrize(("template", "methods"), REWRITTEN, ids=_ids(REWRITTEN))
@settings(EXAMPLES, max_examples=12)  # the names the server rewrites: where a wrong rule hides
@given(data=st.data())
def test_a_rewritten_name_is_checked_and_acted_on_in_its_canonical_form(world, template, methods, data):
    check_name_route(world, template, methods, data)


@pytest.mark.parametrize(("template", "methods"), VERBATIM, ids=_ids(VERBATIM))
@settings(EXAMPLES, max_examples=3)
@given(data=st.data())
def test_a_verbatim_name_is_checked_and_acted_on_as_sent(world, template, methods, data):
    check_name_route(world, template, methods, data)


def check_name_route(world: World, template: str, methods: tuple[str, ...], data: st.DataObject) -> None:
    route = NAME_ROUTES[template]
    method = data.draw(st.sampled_from(methods), label="method")
    protected = world.names[route.protected]
    # another object of the same kind: an id one character off, or a name one segment longer
    is_id = route.protected.endswith(("_id", "_entity"))
    sibling = protected[:-1] + ("0" if protected[-1] != "0" else "1") if is_id else protected + "-k"
    decoded = data.draw(spelling(data.draw(st.sampled_from([protected, protected, sibling]))), label="decoded")
    url = data.draw(encoded(decoded), label="url")
    leading = data.draw(st.sampled_from(["", "/"]), label="leading")  # "/v1//sys/..." is "/v1/sys/..."
    served = served_segment(template, decoded)
    canonical = route.canonical(served) if served is not None else None
    marker = "m" + uuid.uuid4().hex[:12]
    body = route.body(world, marker, canonical or decoded) if route.body is not None and method in WRITES else None
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
    status, answer = world.actor.send(method, leading + fill(template, url), body, headers)

    seen = (status, answer, "canonical", canonical)
    if has_control(decoded):  # refused before routing (docs/api.md)
        assert status == 400 and "control characters" in answer["errors"][0], seen
    elif served is None:
        assert status in (404, 405), seen  # no route takes the path
    elif canonical is None:
        assert status == 400, seen  # no canonical form: refused, naming the field
        assert answer["errors"][0].split(":")[0] in ("name", "path"), seen
    elif canonical == protected:
        assert status == 403, seen
    else:
        assert status != 403, seen  # the policy allows every other object
        if method in ("POST", "PUT") and route.creates is not None and route.creates(canonical):
            assert 200 <= status < 300, seen
        if method in WRITES and 200 <= status < 300 and route.readback is not None:
            stored = _read(world, route.readback, canonical)
            assert marker in str(_dig(stored, route.marker_at)), (seen, stored)
    guard = route.guard or route.readback
    if guard:  # the protected object is as the world made it
        assert _read(world, guard, protected) == world.snapshot(guard, protected), seen


# -- the values in the body: every write that stores a value other than as sent ----------------------------

PARAMS_PARENT_POLICIES = ["canon-params", "admin", "dev-a", "dev-b", "ops"]
_DENY_ADMIN = 'denied_parameters = { policies = ["admin"] }'
_DENY_ADMIN_CEILING = 'denied_parameters = { ceiling_policies = ["admin"] }'
_DENY_BANNED = f'denied_parameters = {{ issuer = ["{BANNED_ISSUER}"] }}'
PARAMS_POLICY = f"""
path "identity/entity" {{ capabilities = ["create", "update"] {_DENY_ADMIN} }}
path "identity/entity/name/*" {{ capabilities = ["create", "update"] {_DENY_ADMIN} }}
path "identity/entity/id/*" {{ capabilities = ["update"] {_DENY_ADMIN} }}
path "identity/group" {{ capabilities = ["create", "update"] {_DENY_ADMIN} }}
path "identity/group/name/*" {{ capabilities = ["create", "update"] {_DENY_ADMIN} }}
path "identity/group/id/*" {{ capabilities = ["update"] {_DENY_ADMIN} }}
path "agent-registry/register" {{ capabilities = ["create", "update"] {_DENY_ADMIN_CEILING} }}
path "agent-registry/registration/id/*" {{ capabilities = ["update"] {_DENY_ADMIN_CEILING} }}
path "agent-registry/registration/display-name/*" {{ capabilities = ["update"] {_DENY_ADMIN_CEILING} }}
path "auth/token/create" {{ capabilities = ["update"] allowed_parameters = {{ policies = ["dev-*"] "*" = [] }} }}
path "sys/config/oauth-resource-server/*" {{
  capabilities = ["create", "update"]
  denied_parameters = {{ issuer_id = ["{BANNED_ISSUER}"] }}
}}
path "identity/entity-alias" {{ capabilities = ["create", "update"] {_DENY_BANNED} }}
path "identity/entity-alias/id/*" {{ capabilities = ["update"] {_DENY_BANNED} }}
path "secret/delete/*" {{ capabilities = ["update"] allowed_parameters = {{ versions = [1, 2] }} }}
path "secret/undelete/*" {{ capabilities = ["update"] allowed_parameters = {{ versions = [1, 2] }} }}
path "secret/destroy/*" {{ capabilities = ["update"] allowed_parameters = {{ versions = [1, 2] }} }}
path "secret/metadata/*" {{
  capabilities = ["create", "update", "patch"]
  allowed_parameters = {{ max_versions = [5, 10] "*" = [] }}
}}
path "secret/config" {{ capabilities = ["update"] allowed_parameters = {{ max_versions = [5, 10] }} }}
"""

POLICY_POOL = ["dev-a", "ops", "admin", "Admin", " ADMIN ", "ａｄｍｉｎ", "аdmin", "dev-b", "DEV-B", "", " "]
TOKEN_POOL = ["dev-a", "DEV-A ", " dev-b", "Dev-B", "admin", "ADMIN", "ops", "", " "]


@st.composite
def listed(draw: st.DrawFn, pool: list[str]) -> Any:
    """A list of policy names in one of the accepted forms."""
    names = draw(st.lists(st.sampled_from(pool), max_size=4))
    form = draw(st.sampled_from(["list", "comma", "comma-spaced", "json-in-string", "one"]))
    if form == "list":
        return names
    if form == "comma":
        return ",".join(names)
    if form == "comma-spaced":
        return " , ".join(names)
    if form == "json-in-string":
        return " " + json.dumps(names) + " "
    return names[0] if names else ""


@st.composite
def issuer_spelling(draw: st.DrawFn, base: str) -> str:
    """`base` with ASCII letters in either case and maybe one trailing "/"."""
    spelled = "".join(ch.swapcase() if ch.isalpha() and draw(st.booleans()) else ch for ch in base)
    return spelled + draw(st.sampled_from(["", "/"]))


@st.composite
def versions(draw: st.DrawFn) -> Any:
    numbers = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    form = draw(st.sampled_from(["ints", "strings", "comma", "spaced", "one"]))
    if form == "ints":
        return numbers
    if form == "strings":
        return [str(n) for n in numbers]
    if form == "comma":
        return ",".join(map(str, numbers))
    if form == "spaced":
        return " " + " , ".join(map(str, numbers)) + " "
    return numbers[0]


MAX_VERSIONS = st.sampled_from([5, 7, 10, "5", " 10 ", "7", 10.0, "07"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Outcome:
    """What a parameter case did: the answer, and the stored value read back as root (None: nothing)."""

    status: int
    answer: Any
    stored: Any
    before: Any = None  # what the object held before the request (None: it did not exist)


@dataclass(frozen=True)
class ParamRoute:
    """A write whose body value is stored other than as sent. `value` draws the request value from the
    world; `canonical` is the value stored (None: no stored form, 400); `allowed` the policy's verdict
    on it; `send` performs the request as the constrained actor and reads back what was stored."""

    value: Callable[[World], st.SearchStrategy]
    canonical: Callable[[Any], Any]
    allowed: Callable[[Any], bool]
    send: Callable[[World, Raw, Any], Outcome]
    before: Callable[[World], Any] | None = None  # what the object held before: a refusal leaves it


def _policies_send(kind: str, where: str) -> Callable[[World, Raw, Any], Outcome]:
    """`policies` sent to an identity object (`kind`: "entity" or "group") through its collection, its name or
    its id (an existing object, holding `ops` until the write)."""

    def send(w: World, actor: Raw, value: Any) -> Outcome:
        name = unique(kind[0])
        if where == "collection":
            status, answer = actor.send("POST", f"identity/{kind}", {"name": name, "policies": value})
        elif where == "name":
            status, answer = actor.send("POST", f"identity/{kind}/name/{name}", {"policies": value})
        else:
            object_id = w.must("POST", f"identity/{kind}", {"name": name, "policies": ["ops"]})["id"]
            status, answer = actor.send("POST", f"identity/{kind}/id/{object_id}", {"policies": value})
        stored = w.root.data(f"identity/{kind}/name/{name}")
        return Outcome(status, answer, stored and stored["policies"], ["ops"] if where == "id" else None)

    return send


def _registration_send(where: str) -> Callable[[World, Raw, Any], Outcome]:
    def send(w: World, actor: Raw, value: Any) -> Outcome:
        name = unique("a")
        entity_id = w.must("POST", "identity/entity", {"name": name})["id"]
        body = {"display_name": name, "entity_id": entity_id, "ceiling_policies": value,
                "no_default_ceiling_policy": True}  # fmt: skip
        if where == "collection":
            status, answer = actor.send("POST", "agent-registry/register", body)
        else:
            reg_id = w.must("POST", "agent-registry/register", {**body, "ceiling_policies": ["ops"]})["id"]
            path = f"registration/id/{reg_id}" if where == "id" else f"registration/display-name/{name}"
            status, answer = actor.send("POST", "agent-registry/" + path, body)
        stored = w.root.data(f"agent-registry/registration/display-name/{name}")
        before = ["ops"] if where != "collection" else None
        return Outcome(status, answer, stored and stored["ceiling_policies"], before)

    return send


def _token_send(w: World, actor: Raw, value: Any) -> Outcome:
    status, answer = actor.send("POST", "auth/token/create", {"policies": value})
    stored = answer["auth"]["policies"] if status == 200 else None
    if stored is not None:  # what the token holds, as its own lookup says
        looked = actor.with_token(answer["auth"]["client_token"]).data("auth/token/lookup-self")
        assert looked is not None and looked["policies"] == stored
    return Outcome(status, answer, stored)


def dev_only(stored: list[str]) -> bool:
    """The token maker's `allowed_parameters = { policies = ["dev-*"] }`. `default` is not the `policies`
    value's doing: `no_default_policy` decides it, as in Vault."""
    return all(p.startswith("dev-") for p in stored if p != "default")


def _token_canonical(value: Any) -> Any:
    """As stored: the requested names, or the parent's when none is left; `default` added."""
    names = policy_names(value)
    if names is None:
        return None
    return sorted(set(names or PARAMS_PARENT_POLICIES) | {"default"})


def _profile_send(w: World, actor: Raw, value: Any) -> Outcome:
    name = unique("p")
    body = {"issuer_id": value, "jwks_uri": "https://idp.example.com/jwks.json"}
    status, answer = actor.send("POST", f"sys/config/oauth-resource-server/{name}", body)
    stored = w.root.data(f"sys/config/oauth-resource-server/{name}")
    w.must("DELETE", f"sys/config/oauth-resource-server/{name}")  # the issuer is free for the next example
    return Outcome(status, answer, stored and stored["issuer_id"])


def _alias_send(where: str) -> Callable[[World, Raw, Any], Outcome]:
    def send(w: World, actor: Raw, value: Any) -> Outcome:
        entity_id = w.must("POST", "identity/entity", {"name": unique("e")})["id"]
        body = {"name": unique("x"), "canonical_id": entity_id, "issuer": value, "external_id": unique("x")}
        if where == "collection":
            status, answer = actor.send("POST", "identity/entity-alias", body)
            alias_id = answer["data"]["id"] if status == 200 else None
        else:  # the alias exists with the issuer's canonical form; the update sends its other spelling
            alias_id = w.must("POST", "identity/entity-alias", {**body, "issuer": issuer(value)})["id"]
            update = {"issuer": value, "custom_metadata": {"m": "updated"}}
            status, answer = actor.send("POST", f"identity/entity-alias/id/{alias_id}", update)
        stored = w.root.data(f"identity/entity-alias/id/{alias_id}") if alias_id else None
        if stored and where == "id" and stored["custom_metadata"] != {"m": "updated"}:
            stored = None  # the update wrote nothing
        return Outcome(status, answer, stored and stored["issuer"])

    return send


def _versions_send(operation: str) -> Callable[[World, Raw, Any], Outcome]:
    def send(w: World, actor: Raw, value: Any) -> Outcome:
        path = unique("v")
        for n in (1, 2, 3):
            w.must("POST", f"secret/data/{path}", {"data": {"n": str(n)}})
        if operation == "undelete":
            w.must("POST", f"secret/delete/{path}", {"versions": [1, 2, 3]})
        before = w.root.data(f"secret/metadata/{path}")["versions"]
        status, answer = actor.send("POST", f"secret/{operation}/{path}", {"versions": value})
        after = w.root.data(f"secret/metadata/{path}")["versions"]
        changed = sorted(int(n) for n in after if after[n] != before[n])
        return Outcome(status, answer, changed or None)

    return send


def _metadata_send(method: str) -> Callable[[World, Raw, Any], Outcome]:
    def send(w: World, actor: Raw, value: Any) -> Outcome:
        path = unique("m")
        headers = None
        if method == "PATCH":
            w.must("POST", f"secret/metadata/{path}", {"custom_metadata": {"a": "b"}})
            headers = {"Content-Type": "application/merge-patch+json"}
        status, answer = actor.send(method, f"secret/metadata/{path}", {"max_versions": value}, headers)
        stored = w.root.data(f"secret/metadata/{path}")
        return Outcome(status, answer, stored and stored["max_versions"] or None)

    return send


def _config_send(w: World, actor: Raw, value: Any) -> Outcome:
    before = w.root.data("secret/config")
    w.must("POST", "secret/config", {"max_versions": 3})  # a value no example sends: a change shows
    status, answer = actor.send("POST", "secret/config", {"max_versions": value})
    stored = w.root.data("secret/config")["max_versions"]
    assert before is not None
    return Outcome(status, answer, stored if stored != 3 else None)


def _int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def no_admin(stored: list[str]) -> bool:
    return "admin" not in stored


POLICIES = dict(value=lambda _w: listed(POLICY_POOL), canonical=policy_names, allowed=no_admin)
ISSUERS = dict(canonical=issuer, allowed=lambda stored: stored != BANNED_ISSUER)
VERSIONS_CASE = dict(value=lambda _w: versions(), canonical=version_numbers, allowed=lambda ns: set(ns) <= {1, 2})
MAX_VERSIONS_CASE = dict(value=lambda _w: MAX_VERSIONS, canonical=_int, allowed=lambda n: n in (5, 10))


def _issuer_values(other: str) -> Callable[[World], st.SearchStrategy]:
    return lambda _w: st.sampled_from([BANNED_ISSUER, BANNED_ISSUER, other]).flatmap(issuer_spelling)


PARAM_ROUTES: dict[str, ParamRoute] = {
    "POST identity/entity": ParamRoute(**POLICIES, send=_policies_send("entity", "collection")),
    "POST identity/entity/name/{name}": ParamRoute(**POLICIES, send=_policies_send("entity", "name")),
    "POST identity/entity/id/{entity_id}": ParamRoute(**POLICIES, send=_policies_send("entity", "id")),
    "POST identity/group": ParamRoute(**POLICIES, send=_policies_send("group", "collection")),
    "POST identity/group/name/{name}": ParamRoute(**POLICIES, send=_policies_send("group", "name")),
    "POST identity/group/id/{group_id}": ParamRoute(**POLICIES, send=_policies_send("group", "id")),
    "POST agent-registry/register": ParamRoute(**POLICIES, send=_registration_send("collection")),
    "POST agent-registry/registration/id/{reg_id}": ParamRoute(**POLICIES, send=_registration_send("id")),
    "POST agent-registry/registration/display-name/{name:path}": ParamRoute(
        **POLICIES, send=_registration_send("name")
    ),
    "POST auth/token/create": ParamRoute(lambda _w: listed(TOKEN_POOL), _token_canonical, dev_only, _token_send),
    "POST sys/config/oauth-resource-server/{name}": ParamRoute(
        _issuer_values("https://ok.example.com"), **ISSUERS, send=_profile_send
    ),
    "POST identity/entity-alias": ParamRoute(
        _issuer_values("https://guarded.example.com"), **ISSUERS, send=_alias_send("collection")
    ),
    "POST identity/entity-alias/id/{alias_id}": ParamRoute(
        _issuer_values("https://guarded.example.com"), **ISSUERS, send=_alias_send("id")
    ),
    "POST secret/delete/{path:path}": ParamRoute(**VERSIONS_CASE, send=_versions_send("delete")),
    "POST secret/undelete/{path:path}": ParamRoute(**VERSIONS_CASE, send=_versions_send("undelete")),
    "POST secret/destroy/{path:path}": ParamRoute(**VERSIONS_CASE, send=_versions_send("destroy")),
    "POST secret/metadata/{path:path}": ParamRoute(**MAX_VERSIONS_CASE, send=_metadata_send("POST")),
    "PATCH secret/metadata/{path:path}": ParamRoute(**MAX_VERSIONS_CASE, send=_metadata_send("PATCH")),
    "POST secret/config": ParamRoute(**MAX_VERSIONS_CASE, send=_config_send),
}


@pytest.mark.parametrize("route", list(PARAM_ROUTES))
@EXAMPLES
@given(data=st.data())
def test_a_parameter_constraint_judges_the_value_that_is_stored(world, route, data):
    case = PARAM_ROUTES[route]
    value = data.draw(case.value(world), label="value")
    canonical = case.canonical(value)
    outcome = case.send(world, world.params, value)
    seen = (value, canonical, outcome)
    if canonical is None:
        assert outcome.status == 400 and outcome.stored is None, seen
    elif not case.allowed(canonical):
        assert outcome.status == 403, seen
        assert outcome.stored == outcome.before, seen  # nothing was written
    elif outcome.status == 400:  # allowed, and refused by a rule of the route: it names the field
        assert outcome.stored == outcome.before, seen
        assert "policies" in json.dumps(outcome.answer), seen
    else:
        assert 200 <= outcome.status < 300, seen
        if route.split("/")[0] == "POST secret" and route.split("/")[1] in ("delete", "undelete", "destroy"):
            canonical = sorted(canonical)  # the versions the request changed
        assert outcome.stored == canonical, seen


# -- every route is tested, or says why it needs no test ----------------------------------------------------

# Writes whose body values are stored as sent, or that store nothing a constraint could be about; each with
# the reason no generated value could be checked in one form and stored in another.
AS_SENT: dict[str, str] = {
    "POST sys/policies/acl/{name}": "the policy text: base64 is decoded before the check (authorize_body's refine)",
    "POST sys/policy/{name}": "the policy text, as sys/policies/acl/{name}",
    "POST sys/namespaces/{name:path}": "custom_metadata: a map, parsed by fields.parse before the check",
    "POST sys/audit-hash/{path:path}": "stores nothing: answers the HMAC of `input`",
    "POST sys/activation-flags/{feature}/activate": "stores nothing: the flags are fixed",
    "POST sys/capabilities-self": "stores nothing: answers the caller's capabilities on the paths given",
    "POST sys/authorize": "stores nothing: the decision API's question about another token",
    "POST sys/authorize/explain": "stores nothing: the decision API's question about another token",
    "POST auth/token/revoke-self": "stores nothing: revokes the caller's own token",
    "POST auth/token/lookup": "stores nothing: the token is named by value",
    "POST auth/token/revoke": "removes the token named by value; no value is stored",
    "POST identity/entity-alias/id/{alias_id}": "tested in PARAM_ROUTES (issuer)",
    "POST identity/group-alias": "name, mount_accessor, canonical_id: strings stored as sent",
    "POST identity/group-alias/id/{alias_id}": "name, mount_accessor, canonical_id: strings stored as sent",
    "POST identity/lookup/group": "stores nothing: a lookup",
    "POST sys/config/oauth-resource-server/{name}": "tested in PARAM_ROUTES (issuer_id)",
    "POST secret/data/{path:path}": "DECISIONS.md#d43: `data` and `options` are judged and stored as sent",
    "PATCH secret/data/{path:path}": "DECISIONS.md#d43: `data` and `options` are judged as sent",
    "POST secret/data": "no path: refused (400) before anything is checked or stored",
    "PATCH secret/data": "no path: refused (400) before anything is checked or stored",
    "POST secret/delete": "no path: refused (400) before anything is checked or stored",
    "POST secret/undelete": "no path: refused (400) before anything is checked or stored",
    "POST secret/destroy": "no path: refused (400) before anything is checked or stored",
}


def openapi_form(template: str) -> str:
    """A template as the OpenAPI document spells it: `{name:path}` is `{name}` there."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", template)


def served_routes(server: vgtest.Server) -> set[tuple[str, str]]:
    """(method, template without /v1/) for every route of the running server, from its OpenAPI document."""
    status, document = Raw(server.url, "", "").send("GET", "sys/openapi.json")
    assert status == 200
    return {
        (method.upper(), path.removeprefix("/v1/"))
        for path, operations in document["paths"].items()
        for method in operations
        if method.upper() not in ("HEAD", "OPTIONS")
    }


def test_every_route_is_covered(server):
    """A route that takes a name from its path must be in NAME_ROUTES (with each of its methods), and every
    write must be in PARAM_ROUTES or in AS_SENT: a new route fails here, named, until it is."""
    served = served_routes(server)
    names = {(m, openapi_form(t)) for t, route in NAME_ROUTES.items() for m in route.methods}
    written = {openapi_form(key) for key in (*PARAM_ROUTES, *AS_SENT)}
    untested = sorted(
        f"{method} {path}"
        for method, path in served
        if ("{" in path and (method, path) not in names)
        or (method in ("POST", "PUT", "PATCH") and f"{'POST' if method == 'PUT' else method} {path}" not in written)
    )
    assert not untested, f"routes without a canonical-request test: {untested}"
    stale = sorted(f"{m} {t}" for m, t in names if (m, t) not in served)
    stale += sorted(k for k in (*PARAM_ROUTES, *AS_SENT) if tuple(openapi_form(k).split(" ", 1)) not in served)
    assert not stale, f"tested routes the server no longer has: {stale}"
