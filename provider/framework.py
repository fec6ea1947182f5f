"""What the `tf` framework lacks, added by subclassing it (never by patching it).

- `ListNestedBlock`: nested blocks in protocol-6 LIST nesting mode (tf ships set and single only).
- Validators: small rule objects run from a resource's `validate`; each error becomes a diagnostic that
  points at the attribute (down to the element of a list or block), naming the field and the rule.
- `api_error`: the one way a client error becomes a diagnostic: "Unable to <verb> <type>", the server's
  messages as detail, and the attribute path when the server's `field_errors` name exactly one field.
- `VaultResource`: the base class of every resource: access to the configured client, and an `upgrade`
  that applies declared state upgraders instead of tf's default (which warns on every plan).
- `same_or_prior`: keep the prior spelling of a value the server normalizes, so state after apply or
  refresh equals what was planned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from tf.gen import tfplugin_pb2 as pb
from tf.iface import DataSource, ImportContext, Resource, State, UpgradeContext
from tf.schema import Block, NestedBlock, NestMode, Schema
from tf.types import List, Set, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, EnterpriseRequired, Unreachable

if TYPE_CHECKING:  # pragma: no cover
    from vaultguard.provider.client import VaultClient
    from vaultguard.provider.provider import VaultProvider


# --------------------------------------------------------------------------------------------- list blocks


class ListNestedBlock(NestedBlock):
    """A nested block in LIST nesting mode: ordered, repeatable (`public_keys { ... }` several times).

    Python value: a list of dicts, one per block, keyed by the block's attribute names. An absent block
    is `[]` (Terraform never sends null for list blocks).
    """

    def __init__(
        self,
        type_name: str,
        block: Block,
        min_items: int | None = None,
        max_items: int | None = None,
    ):
        # NestMode has no LIST member; the mode is emitted by to_pb below and nowhere else in tf.
        super().__init__(type_name, NestMode.Set, block, min_items=min_items, max_items=max_items)

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(
            type_name=self.type_name,
            block=self.block.to_pb(),
            min_items=self.min_items,
            max_items=self.max_items,
            nesting=pb.Schema.NestedBlock.NestingMode.LIST,
        )

    def encode(self, value: Any) -> Any:
        from tf.provider import _encode_state_d

        if value is None:
            return []
        return [_encode_state_d(self._amap(), self._bmap(), item, None) for item in value]

    def decode(self, value: Any) -> Any:
        from tf.provider import _decode_state

        if value is None:
            return []
        diags = Diagnostics()
        return [_decode_state(diags, self._amap(), self._bmap(), item)[1] for item in value]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        a, b = a_decoded or [], b_decoded or []
        if len(a) != len(b):
            return False
        attrs = self.block.attributes
        blocks = self.block.block_types
        for x, y in zip(a, b, strict=True):
            for attr in attrs:
                if not attr.type.semantically_equal(x.get(attr.name), y.get(attr.name)):
                    return False
            for nested in blocks:
                if not nested.semantically_equal(x.get(nested.type_name), y.get(nested.type_name)):
                    return False
        return True


# --------------------------------------------------------------------------------------------- equivalence


class _Equivalent:
    """Mixin for a type whose values are one value when `normalize` maps them to the same thing (the server
    stores that: a policy name in another case, an issuer with a trailing `/`, a list in another order).

    tf asks `semantically_equal` which attributes changed (so a respelling never forces a replacement), and
    the servicer keeps the prior spelling in a plan when the new one is equivalent (`equivalent_to_prior`).
    Only wholly known values compare normalized; anything else compares as the base type does.
    """

    normalize: Callable[[Any], Any]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        if a_decoded is not None and b_decoded is not None and wholly_known([a_decoded, b_decoded]):
            try:
                return self.normalize(a_decoded) == self.normalize(b_decoded)
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
        return super().semantically_equal(a_decoded, b_decoded)  # type: ignore[misc]


class EquivalentString(_Equivalent, String):
    """A string attribute compared by `normalize`."""

    def __init__(self, normalize: Callable[[str], Any]):
        self.normalize = normalize


class EquivalentList(_Equivalent, List):
    """A list attribute compared by `normalize` of the whole list."""

    def __init__(self, element: Any, normalize: Callable[[list], Any]):
        super().__init__(element)
        self.normalize = normalize


class EquivalentSet(_Equivalent, Set):
    """A set attribute compared by `normalize` of the whole set."""

    def __init__(self, element: Any, normalize: Callable[[list], Any]):
        super().__init__(element)
        self.normalize = normalize


def equivalent_type(tf_type: Any, normalize: Callable[[Any], Any]) -> Any:
    """`tf_type`, with values compared by `normalize`."""
    if isinstance(tf_type, String):
        return EquivalentString(normalize)
    if isinstance(tf_type, Set):
        return EquivalentSet(tf_type.element_type, normalize)
    if isinstance(tf_type, List):
        return EquivalentList(tf_type.element_type, normalize)
    raise TypeError(f"no equivalence for {type(tf_type).__name__}")


# --------------------------------------------------------------------------------------------- validators


def show(value: Any) -> str:
    """A value as a user wrote it in HCL: strings in double quotes, numbers and lists plainly."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class Validator(Protocol):
    """A rule for one value. `errors` yields (path relative to the value, message) for each violation.

    Rules see only known, non-null values: null means "not set" (Required is Terraform's job) and unknown
    values are checked again at apply time, when they are known.
    """

    description: str

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]: ...


@dataclass(frozen=True)
class OneOf:
    """The value is one of a fixed set. The set feeds the attribute description too (`description`)."""

    values: tuple[str, ...]

    @property
    def description(self) -> str:
        return "supported values are " + ", ".join(f"`{v}`" for v in self.values)

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if value not in self.values:
            yield [], f"must be one of {', '.join(self.values)}; got {show(value)}"


@dataclass(frozen=True)
class Between:
    """A number in [minimum, maximum] (either bound may be None)."""

    minimum: float | None = None
    maximum: float | None = None

    @property
    def description(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"between {self.minimum:g} and {self.maximum:g}"
        if self.minimum is not None:
            return f"at least {self.minimum:g}"
        return f"at most {self.maximum:g}"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if not isinstance(value, int | float) or isinstance(value, bool):
            yield [], f"must be a number; got {show(value)}"
        elif (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            yield [], f"must be {self.description}; got {value:g}"


@dataclass(frozen=True)
class NotBlank:
    """A string with at least one non-whitespace character."""

    description: str = "must not be empty"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if not isinstance(value, str) or not value.strip():
            yield [], f"must not be empty; got {show(value)}"


@dataclass(frozen=True)
class Matches:
    """A string matching `pattern` in full; `description` says the rule in words."""

    pattern: str
    description: str

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if not isinstance(value, str) or re.fullmatch(self.pattern, value) is None:
            yield [], f"{self.description}; got {show(value)}"


@dataclass(frozen=True)
class NamespacePath:
    """A Vault namespace path: non-empty segments separated by `/`, no leading or trailing `/`."""

    description: str = "must be a namespace path without leading or trailing '/'"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if not isinstance(value, str) or not value or value != value.strip("/") or "//" in value:
            yield [], f"{self.description}; got {show(value)}"


@dataclass(frozen=True)
class HttpUrl:
    """An absolute http(s) URL with a host; `https_only` refuses plain http."""

    https_only: bool = False

    @property
    def description(self) -> str:
        return "must be an https:// URL" if self.https_only else "must be an http:// or https:// URL"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        from urllib.parse import urlsplit

        schemes = ("https",) if self.https_only else ("http", "https")
        try:
            parts = urlsplit(value) if isinstance(value, str) else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in schemes or not parts.hostname:
            yield [], f"{self.description}; got {show(value)}"


@dataclass(frozen=True)
class Each:
    """Apply `rule` to every element of a list; paths point at the element (`attr[2]`)."""

    rule: Validator

    @property
    def description(self) -> str:
        return f"each element {self.rule.description}"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        for index, item in enumerate(value or []):
            if item is None or item is Unknown:
                continue
            for path, message in self.rule.errors(item):
                yield [(index,), *path], message


@dataclass(frozen=True)
class Unique:
    """No element of a list appears twice."""

    description: str = "must not repeat an element"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        seen: set[Any] = set()
        for index, item in enumerate(value or []):
            if item is Unknown or item is None:
                continue
            if item in seen:
                yield [(index,)], f"must not repeat an element; {show(item)} appears more than once"
            seen.add(item)


@dataclass(frozen=True)
class EachBlock:
    """Apply per-attribute rules to every block of a list block: `{"pem": [PemPublicKey()]}`."""

    rules: Mapping[str, Sequence[Validator]]
    description: str = "each block is valid"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        for index, block in enumerate(value or []):
            if not isinstance(block, Mapping):
                continue
            for name, rules in self.rules.items():
                item = block.get(name)
                if item is None or item is Unknown:
                    continue
                for rule in rules:
                    for path, message in rule.errors(item):
                        yield [(index,), name, *path], message


def check(diags: Diagnostics, config: Mapping[str, Any], rules: Mapping[str, Sequence[Validator]]) -> None:
    """Run `rules` (attribute name → validators) over `config`, adding one error per violation.

    The diagnostic's summary names the field, its detail names the rule and the value, and its attribute
    path lets Terraform underline the offending line of the configuration.
    """
    for name, validators in rules.items():
        value = config.get(name)
        if value is None or value is Unknown:
            continue
        for rule in validators:
            for rel_path, message in rule.errors(value):
                path: AttributePath = [name, *rel_path]
                diags.add_error(
                    f"Invalid value for {render_path(path)}",
                    f"{render_path(path)} {message}.",
                    path=path,
                )


def check_exclusive(
    diags: Diagnostics, config: Mapping[str, Any], names: Sequence[str], *, required: bool = False
) -> None:
    """At most one (exactly one when `required`) of `names` is set. Unknown values may still turn out
    null, so any unknown among them postpones the check to apply time."""
    values = [config.get(n) for n in names]
    if any(v is Unknown for v in values):
        return
    present = [n for n, v in zip(names, values, strict=True) if not is_unset(v)]
    listed = ", ".join(names)
    if len(present) > 1:
        for name in present:
            diags.add_error(
                "Conflicting configuration arguments",
                f"Only one of {listed} may be set; {', '.join(present)} are all set.",
                path=[name],
            )
    elif required and not present:
        diags.add_error("Missing required argument", f"Exactly one of {listed} must be set.")


def is_unset(value: Any) -> bool:
    """Null, or an empty list block / list (how Terraform sends an absent repeated block)."""
    return value is None or (isinstance(value, list | tuple) and len(value) == 0)


def render_path(path: AttributePath) -> str:
    """`public_keys[0].pem` for ["public_keys", (0,), "pem"]."""
    out = ""
    for step in path:
        if isinstance(step, tuple):
            key = step[0]
            out += f"[{key}]" if isinstance(key, int) else f'["{key}"]'
        else:
            out += f".{step}" if out else step
    return out


# --------------------------------------------------------------------------------------------- errors


AttributeOf = Callable[[Sequence[str | int]], "AttributePath | None"]
"""The attribute path of a request field path (`["public_keys", 1, "pem"]`), None when there is none."""


def api_error(
    diags: Diagnostics,
    verb: str,
    type_name: str,
    exc: ApiError,
    *,
    path: AttributePath | None = None,
    attribute_of: AttributeOf | None = None,
) -> None:
    """Add the uniform diagnostic for a failed API call: "Unable to <verb> <type_name>".

    The detail carries the server's messages first (what the user must fix), then the request. The
    diagnostic points at `path` when given; otherwise, for a 400, at the attribute of the one request field
    the server's errors are about (`exc.field_paths`, mapped by `attribute_of`). Always returns None so
    CRUD methods can `return api_error(...)`.
    """
    if path is None and attribute_of is not None and exc.status == 400:
        path = _one_attribute(exc.field_paths, attribute_of)
    if isinstance(exc, EnterpriseRequired | Unreachable):
        detail = "\n".join(exc.errors)
    else:
        detail = "The server answered:\n" + "\n".join(f"  * {m}" for m in exc.errors)
        request = []
        if exc.method and exc.path:
            request.append(f"{exc.method} /v1/{exc.path}")
        if exc.status is not None:
            request.append(f"HTTP {exc.status}")
        if exc.namespace:
            request.append(f"namespace {exc.namespace}")
        if request:
            detail += f"\n({', '.join(request)})"
    diags.add_error(f"Unable to {verb} {type_name}", detail, path=path)
    return None


def _one_attribute(field_paths: Iterable[Sequence[str | int]], attribute_of: AttributeOf) -> AttributePath | None:
    paths = []
    for field in field_paths:
        attribute = attribute_of(field)
        if attribute is not None and attribute not in paths:
            paths.append(attribute)
    return paths[0] if len(paths) == 1 else None


def attribute_of_schema(schema: Schema) -> AttributeOf:
    """Request fields named as the schema's attributes and blocks (a data source's query parameters)."""
    names = {a.name for a in schema.attributes} | {b.type_name for b in schema.block_types}

    def attribute_of(field: Sequence[str | int]) -> AttributePath | None:
        return attribute_path(field) if field and field[0] in names else None

    return attribute_of


def attribute_path(field: Sequence[str | int]) -> AttributePath:
    """tf's form of a field path: list indexes as 1-tuples (`["public_keys", (1,), "pem"]`)."""
    return [(step,) if isinstance(step, int) else step for step in field]


# --------------------------------------------------------------------------------------------- resources


StateUpgrader = Callable[[State], State]
# The namespace `terraform import` puts imported objects in (hashicorp/vault, DECISIONS.md#d48).
IMPORT_NAMESPACE_ENV = "TERRAFORM_VAULT_NAMESPACE_IMPORT"


class VaultResource(Resource):
    """Base of every vaultguard resource.

    Subclasses give `get_name` (without the `vault_` prefix), `get_schema` (with `version=` set), the CRUD
    hooks and, when the schema version moves, `state_upgraders[v]` turning a version-v state into v+1.
    """

    state_upgraders: ClassVar[Mapping[int, StateUpgrader]] = {}

    def __init__(self, provider: VaultProvider):
        self.provider = provider

    @property
    def client(self) -> VaultClient:
        """The client configured for this provider process (raises if the provider is not configured)."""
        return self.provider.client

    @classmethod
    def type_name(cls) -> str:
        """The full Terraform type name, e.g. `vault_agent_registration`."""
        return "vault_" + cls.get_name()

    def import_state(self, **values: Any) -> State:
        """The state an `import_` returns: every attribute of the schema, null unless given (Terraform
        rejects an object with attributes missing); Terraform then calls `read` to fill in the rest."""
        schema = self.get_schema()
        state: State = {a.name: None for a in schema.attributes}
        state.update({b.type_name: [] for b in schema.block_types})
        state.update(values)
        return state

    def import_namespace(self) -> str | None:
        """The `namespace` an imported object gets: `TERRAFORM_VAULT_NAMESPACE_IMPORT`, as in hashicorp/vault
        (relative to the provider's namespace); None when unset."""
        return self.provider.environ.get(IMPORT_NAMESPACE_ENV) or None

    def read_first_for_import(
        self, ctx: ImportContext, paths: Sequence[str], namespace: str | None, missing: str
    ) -> Mapping[str, Any] | None:
        """The `data` of the first of `paths` that exists, for an Enterprise object being imported.

        None with an error diagnostic when the server refuses, or when none exists (`missing` says what was
        looked for; the namespace is added).
        """
        try:
            self.client.require_enterprise()
            for path in paths:
                body = self.client.read(path, namespace=namespace)
                if body is not None and body.get("data"):
                    return body["data"]
        except ApiError as exc:
            api_error(ctx.diagnostics, "import", ctx.type_name, exc)
            return None
        where = f" in namespace {namespace}" if namespace else ""
        ctx.diagnostics.add_error(f"Cannot import {ctx.type_name}", f"{missing}{where}.")
        return None

    def upgrade(self, ctx: UpgradeContext, version: int, old: State) -> State:
        """Bring a stored state to the current schema version (no warning, unlike tf's default).

        Applies `state_upgraders` from `version` up, then drops keys the schema no longer has (Terraform
        rejects an upgraded state with unknown attributes). The state here is Terraform's JSON form.
        """
        schema = self.get_schema()
        target = schema.version or 0
        state = dict(old)
        for v in range(version or 0, target):
            upgrader = self.state_upgraders.get(v)
            if upgrader is not None:
                state = upgrader(state)
        known = {a.name for a in schema.attributes} | {b.type_name for b in schema.block_types}
        return {k: v for k, v in state.items() if k in known}


class Declared:
    """A resource or data source declared by class attributes: NAME (without `vault_`), SCHEMA and, when it
    has any, RULES (attribute name → validators, run by `check` at plan time)."""

    NAME: ClassVar[str]
    SCHEMA: ClassVar[Schema]
    RULES: ClassVar[Mapping[str, Sequence[Validator]]] = {}

    @classmethod
    def get_name(cls) -> str:
        return cls.NAME

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: Any) -> None:
        super().validate(diags, type_name, config)  # type: ignore[misc] - the Resource or DataSource beside it
        check(diags, config, self.RULES)


class VaultDataSource(Declared, DataSource):
    """Base of every vaultguard data source: declared as `Declared` says, with access to the configured
    client; a subclass writes `read`."""

    def __init__(self, provider: VaultProvider):
        self.provider = provider

    @property
    def client(self) -> VaultClient:
        """The client configured for this provider process."""
        return self.provider.client

    @classmethod
    def type_name(cls) -> str:
        """The full Terraform type name, e.g. `vault_kv_secret_v2`."""
        return "vault_" + cls.get_name()


def same_or_prior(prior: Any, new: Any, normalize: Callable[[Any], Any]) -> Any:
    """`prior` when it normalizes to the same value as `new`, else `new`.

    Use in read/create/update when the server stores a normalized spelling (a lowercased issuer, PEM
    without trailing newline): state keeps the user's spelling, so plan shows no diff and apply's result
    matches the plan, while a real change out of band still shows as drift.
    """
    if prior is None or prior is Unknown or new is None:
        return new
    try:
        return prior if normalize(prior) == normalize(new) else new
    except (TypeError, ValueError, AttributeError):
        return new


def wholly_known(value: Any) -> bool:
    """No Unknown anywhere inside `value` (lists, blocks, maps)."""
    if value is Unknown:
        return False
    if isinstance(value, list):
        return all(wholly_known(v) for v in value)
    if isinstance(value, Mapping):
        return all(wholly_known(v) for v in value.values())
    return True


def keep_null(prior: Any, new: Any) -> Any:
    """`new`, except that an empty value read back stays null when the prior state held null.

    For optional attributes that are not computed (a map, a set, a flag defaulting to false): the server
    answers "nothing" as `{}`, `[]` or `false` whether the user wrote that or left the attribute out, and
    state must hold what the configuration said either way, or plan shows a diff that can never converge.
    A missing prior (import) counts as null.
    """
    if prior is None and new in ({}, [], False, None, ""):
        return None
    return new


__all__ = [
    "Between",
    "EquivalentList",
    "EquivalentSet",
    "EquivalentString",
    "Each",
    "EachBlock",
    "HttpUrl",
    "ListNestedBlock",
    "Matches",
    "NamespacePath",
    "NotBlank",
    "OneOf",
    "Unique",
    "Validator",
    "VaultDataSource",
    "VaultResource",
    "api_error",
    "attribute_of_schema",
    "attribute_path",
    "check",
    "check_exclusive",
    "equivalent_type",
    "is_unset",
    "keep_null",
    "render_path",
    "same_or_prior",
    "show",
    "wholly_known",
]
