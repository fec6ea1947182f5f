"""One declaration per attribute: `Field`, and `SpecResource`, the resource that is built from its fields.

A resource type is a list of `Field`s plus what is particular to it. From the fields come:

- the schema (`ResourceSpec.schema`): type, required/optional/computed, `requires_replace`, description
  (with "Default: ..." appended when the field has a default);
- the defaults planned when the configuration leaves an attribute out (`SpecResource.plan_with_config`);
- the plan-time validators (`ResourceSpec.rules`, run by `SpecResource.validate`);
- equivalence: a field with `same=normalize` gets a type whose `semantically_equal` compares normalized
  values, so a plan keeps the prior spelling (the servicer's `equivalent_to_prior`), and reading the object
  back keeps it too (`ResourceSpec.reconcile`);
- both API mappings: `ResourceSpec.to_api` (the body of a write) and `ResourceSpec.from_api` (state values
  from a read's `data`), and back from an API field to the attribute a service error names (`attribute_of`).

`SpecResource` carries the create, read, update, delete and import beats every resource shares; a resource
sets a few class attributes and overrides the hooks where it differs. A new resource, in full:

    FIELDS = ResourceSpec(
        [
            Field("name", String(), "Name of the group.", required=True, rules=[NotBlank()]),
            Field("policies", Set(String()), "Policies of the group.", optional=True,
                  same=normalize_policies, empty_keeps_null=True),  # stored lowercased; unset stays null
            Field("type", String(), "`internal` or `external`.", default="internal", replace=True,
                  rules=[OneOf(("internal", "external"))]),
            namespace_field("Namespace of the group, relative to the provider's namespace."),
            Field("id", String(), "The group's ID, assigned by the server.", computed=True),
        ],
        description="Manages an identity group.",
    )

    class IdentityGroupResource(SpecResource):
        resource_name = "identity_group"           # the type is vault_identity_group
        spec = FIELDS
        create_path = "identity/group"             # where a create is written; the answer's data.id is its id
        noun = "group"

        def object_path(self, state):              # where the object lives once it exists
            return f"identity/group/id/{path_segment(state['id'])}"

    then the class in `RESOURCES` (resources/__init__.py), an example in
    `examples/resources/vault_identity_group/`, and `python -m vaultguard.provider.docs`.

Class attributes: `resource_name`, `spec`, `create_path` (None: create at `object_path`), `refuse_existing`
(create reads first and never adopts an existing object; then `existing_message` says how to import it),
`read_after_write` (update reads the object back: the server sets values on update), `read_after_create`
(False: create takes what the plan leaves unknown from the create's answer, without a read), `enterprise` (the
server must be Vault Enterprise-compatible), `import_attribute` and `import_by` (what an import ID is),
`noun` (in messages), `warn_summary` (the server's write warnings become Terraform warnings),
`write_representation` (writes ask for the object in the answer; see `written_data`).

Hooks, each optional but `object_path`: `created_identity` (state keys from the create's answer; default
`data.id` when `create_path` is set), `written_data` (the whole object from a write's answer, which then
stands for the read back), `state_from_api` (state from a read's data and the prior state),
`to_api`, `check_config` (validation across fields), `adjust_plan` (what else the apply changes),
`after_read` (warnings), `imported` (the state an import ID gives; `import_by_id_or_name` looks an object
up by either), `must_not_exist`, `failed` (the diagnostic of a refused write).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from tf.iface import Config, CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, State, UpdateContext
from tf.schema import Attribute, Schema
from tf.types import Bool, List, Map, Number, Set, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError
from vaultguard.provider.framework import (
    ListNestedBlock,
    NamespacePath,
    Validator,
    VaultResource,
    api_error,
    attribute_path,
    check,
    equivalent_type,
    show,
    wholly_known,
)
from vaultguard.provider.servicer import equivalent_to_prior

NO_DEFAULT: Any = object()
"""A field without a default (None is a default: a null value)."""

SAME_NAME: Any = object()
"""The API calls the field as the attribute (the usual case)."""


# --------------------------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class Field:
    """Everything about one attribute (or one repeated block, when `type` is a `ListNestedBlock`).

    - `required` / `optional` / `computed`, `replace` (`requires_replace`) and `description`: the schema.
    - `default`: planned when the configuration leaves the attribute out (the attribute is then optional and
      computed, and its description says the default).
    - `rules`: plan-time validators of the value (`framework.Validator`).
    - `same`: the server stores `same(value)`; values alike under it are one value (see the module doc).
    - `api`: the field's name in the API (`None`: the server does not know it, state keeps the configuration's
      value). `write`: sent in write bodies (default: when the API knows it and the user may set it).
      `omit_unset`: sent only when set (known, not null, not empty).
    - `read`: the state value from a read's whole `data`, when it is not simply `data[api]`.
      `absent_keeps_prior`: a server that leaves the field out of its answer (an older one) keeps the prior
      value (or the default). `empty_is_null`: the server's empty answer is null in state.
      `empty_keeps_null`: the server's empty answer stays null when the prior state held null (an optional
      attribute the configuration leaves out).
    """

    name: str
    type: Any
    description: str
    required: bool = False
    optional: bool = False
    computed: bool = False
    replace: bool = False
    default: Any = NO_DEFAULT
    rules: Sequence[Validator] = ()
    same: Callable[[Any], Any] | None = None
    api: Any = SAME_NAME
    write: bool | None = None
    omit_unset: bool = False
    read: Callable[[Mapping[str, Any]], Any] | None = None
    absent_keeps_prior: bool = False
    empty_is_null: bool = False
    empty_keeps_null: bool = False
    sensitive: bool = False

    @property
    def api_name(self) -> str | None:
        return self.name if self.api is SAME_NAME else self.api

    @property
    def is_block(self) -> bool:
        return isinstance(self.type, ListNestedBlock)

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def is_written(self) -> bool:
        if self.write is not None:
            return self.write
        return self.api_name is not None and (self.required or self.optional or self.has_default)

    def fresh_default(self) -> Any:
        """A copy of the default (a list default must not be shared between plans)."""
        return copy.deepcopy(self.default)

    def attribute(self) -> Attribute:
        tf_type = equivalent_type(self.type, self.same) if self.same is not None else self.type
        return Attribute(
            self.name,
            tf_type,
            description=self._described(),
            required=self.required,
            optional=self.optional or self.has_default,
            computed=self.computed or self.has_default,
            requires_replace=self.replace or None,
            sensitive=self.sensitive,
        )

    def _described(self) -> str:
        if not self.has_default or "Default:" in self.description:
            return self.description
        default = self.default
        shown = ", ".join(f"`{v}`" for v in default) if isinstance(default, list) else f"`{show(default)}`"
        return f"{self.description} Default: {shown}."

    # ---- API mapping ------------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        """The value as a write body carries it: empty values spelled out (writes replace or merge)."""
        if self.is_block:
            names = [a.name for a in self.type.block.attributes]
            return [{n: item.get(n) for n in names} for item in value or []]
        if isinstance(self.type, Bool):
            return bool(value)
        if isinstance(self.type, Number):
            return int(value or 0)
        if isinstance(self.type, Set):
            return sorted(value or [])
        if isinstance(self.type, List):
            return list(value or [])
        if isinstance(self.type, Map):
            return dict(value or {})
        return "" if value is None else value

    def decode(self, data: Mapping[str, Any], prior: State) -> Any:
        """The state value from a read's `data` (before equivalence and null-keeping)."""
        if self.read is not None:
            return self.read(data)
        key = self.api_name
        if key not in data:
            if self.absent_keeps_prior:
                value = prior.get(self.name)
                if value is not None and value is not Unknown:
                    return value
                return self.fresh_default() if self.has_default else value
            if self.has_default:
                return self.fresh_default()
        raw = data.get(key)
        if self.is_block:
            names = [a.name for a in self.type.block.attributes]
            return [{n: item.get(n, "") for n in names} for item in raw or []]
        if isinstance(self.type, Bool):
            return bool(raw)
        if isinstance(self.type, Number):
            return int(raw or 0)
        if isinstance(self.type, List | Set):
            return list(raw or [])
        if isinstance(self.type, Map):
            return {str(k): str(v) for k, v in (raw or {}).items()}
        value = raw or ""
        return None if self.empty_is_null and value == "" else value

    def kept(self, prior: State, server: Any) -> Any:
        """What state holds for the server's value, given the prior state (see `Field`)."""
        old = prior.get(self.name)
        value = server
        if self.same is not None and old is not None and server is not None and wholly_known(old):
            try:
                if self.same(old) == self.same(server):
                    value = copy.deepcopy(old)
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
        if self.empty_keeps_null and old is None and value in ("", [], {}):
            return None
        return value


_NAMESPACE = Field(
    "namespace",
    String(),
    "",  # each resource says what the namespace is of
    optional=True,
    replace=True,
    api=None,
    rules=[NamespacePath()],
)


def namespace_field(description: str) -> Field:
    """The `namespace` attribute every namespaced resource has: relative to the provider's namespace,
    not part of the object (the request's namespace header), changing it replaces the object."""
    return Field(**{**_NAMESPACE.__dict__, "description": description})


class ResourceSpec:
    """The fields of a resource type and everything derived from them."""

    def __init__(self, fields: Sequence[Field], *, description: str, version: int = 0):
        self.fields = list(fields)
        self.by_name = {f.name: f for f in self.fields}
        self.schema = Schema(
            version=version,
            description=description,
            attributes=[f.attribute() for f in self.fields if not f.is_block],
            block_types=[f.type for f in self.fields if f.is_block],
        )
        self.attributes = {a.name: a for a in self.schema.attributes}  # by name, built once
        self.rules: dict[str, Sequence[Validator]] = {f.name: f.rules for f in self.fields if f.rules}
        self.defaults: dict[str, Any] = {f.name: f.default for f in self.fields if f.has_default}
        self._attribute_of_api = {f.api_name: f.name for f in self.fields if f.api_name is not None}

    def to_api(self, state: State) -> dict[str, Any]:
        """The body of a write: every written field, empty ones spelled out unless `omit_unset`."""
        body: dict[str, Any] = {}
        for f in self.fields:
            if not f.is_written:
                continue
            value = state.get(f.name)
            if f.omit_unset and value in (None, Unknown, ""):
                continue
            body[f.api_name] = f.encode(value)
        return body

    def from_api(self, data: Mapping[str, Any], prior: State | None = None) -> State:
        """The server's view: state values of every field the API knows, from a read's `data`."""
        prior = prior or {}
        return {f.name: f.decode(data, prior) for f in self.fields if f.api_name is not None or f.read}

    def reconcile(self, prior: State, fresh: State) -> State:
        """State from the server's view (`fresh`) and the prior state or plan (`prior`; `{}` on import):
        the prior spelling of equivalent values, null for empty values the configuration left out, and the
        prior value (or the default) of what the server does not know."""
        state: State = {}
        for f in self.fields:
            if f.name in fresh:
                state[f.name] = f.kept(prior, fresh[f.name])
            else:
                value = prior.get(f.name)
                state[f.name] = f.fresh_default() if value is None and f.has_default else value
        return state

    def attribute_of(self, field: Sequence[str | int]) -> AttributePath | None:
        """The attribute path of a request field path (`["public_keys", 1, "pem"]`), or None when the
        resource has no such attribute."""
        if not field or field[0] not in self._attribute_of_api:
            return None
        return attribute_path([self._attribute_of_api[field[0]], *field[1:]])


# --------------------------------------------------------------------------------------------- resources

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def looks_like_uuid(value: str) -> bool:
    """Whether an import ID is an id (8-4-4-4-12 hex digits, any case) rather than a name."""
    return _UUID.fullmatch(value) is not None



class SpecResource(VaultResource):
    """A resource built from its `spec`; see the module docstring for how to declare one.

    The beats, in order:
    - validate: the fields' rules, then `check_config`;
    - plan (`plan_with_config`): defaults where the configuration leaves a field out; on create every
      computed value not known yet is unknown; then `adjust_plan`;
    - create: `refuse_existing` check, write `to_api(planned)` to `create_path` (or `object_path`), take the
      new object's keys from the answer (`created_identity`), read it back (unless `read_after_create` is
      False and nothing is left unknown, or the answer carries the whole object: `written_data`), and fill
      in what the plan left unknown. Once the server has created
      the object its keys reach state even when reading back fails, so a re-run replaces it instead of
      tripping over it;
    - read: the object at `object_path(current)`, or None when it is gone; `state_from_api`, then `after_read`;
    - update: write `to_api(planned)` to `object_path(current)`; read back when `read_after_write` (unless
      the answer carries the whole object: `written_data`);
    - delete: delete `object_path(current)`;
    - import: `imported(ctx, id)` (default: `{import_attribute: id, namespace: <import namespace>}`); then
      Terraform reads the rest.
    """

    resource_name: ClassVar[str]  # the type name without `vault_`
    spec: ClassVar[ResourceSpec]
    create_path: ClassVar[str | None] = None
    refuse_existing: ClassVar[bool] = False
    read_after_write: ClassVar[bool] = False
    enterprise: ClassVar[bool] = False
    import_attribute: ClassVar[str] = "id"
    import_by: ClassVar[str] = "its id"
    noun: ClassVar[str] = "object"  # in messages: "The server did not return the new <noun>."
    warn_summary: ClassVar[str | None] = None  # the server's write warnings become Terraform warnings
    # Whether create reads the new object back. False where the server sets no value the plan leaves unknown
    # beyond what `created_identity` takes from the create's answer: one request less per object. The object
    # is still read back when something stays unknown.
    read_after_create: ClassVar[bool] = True
    # Whether create and update ask for the written object in the answer (`Prefer: return=representation`,
    # DECISIONS.md#d68); `written_data` says whether an answer holds it, and then it stands for the read back.
    write_representation: ClassVar[bool] = False

    @classmethod
    def get_name(cls) -> str:
        return cls.resource_name

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.spec.schema

    # ---- particulars (override) ---------------------------------------------------------------------

    def object_path(self, state: State) -> str:
        """The API path of the object `state` describes."""
        raise NotImplementedError

    def must_not_exist(self, planned: State) -> bool:
        """Whether create reads first and refuses to adopt an existing object (`refuse_existing`)."""
        return self.refuse_existing

    def existing_message(self, planned: State) -> tuple[str, AttributePath]:
        """What a create says when `refuse_existing` finds the object (detail, attribute)."""
        raise NotImplementedError

    def created_identity(self, planned: State, answer: Mapping[str, Any] | None) -> State | None:
        """State keys of the new object taken from the create's answer (`{}` when `object_path(planned)`
        already names it); None when the answer lacks them."""
        if self.create_path is None:
            return {}
        new_id = ((answer or {}).get("data") or {}).get("id")
        return {"id": new_id} if isinstance(new_id, str) and new_id else None

    def written_data(self, answer: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The object as a read of it would answer, when the answer to a create or update carries all of it
        (then it is not read back); None when the answer says less (a server that answers with the new id
        only): then the object is read back. By default None."""
        return None

    def to_api(self, state: State) -> dict[str, Any]:
        return self.spec.to_api(state)

    def state_from_api(self, prior: State, data: Mapping[str, Any]) -> State:
        """State from a read's `data`, keeping what only the configuration knows (`prior`)."""
        return self.spec.reconcile(prior, self.spec.from_api(data, prior))

    def check_config(self, diags: Diagnostics, config: Config) -> None:
        """Validation beyond each field's own rules (fields that depend on each other)."""

    def adjust_plan(self, ctx: PlanContext, prior: State | None, planned: State, config: Config) -> State | None:
        """The plan after defaults and unknowns: what else the apply will change."""
        return planned

    def after_read(self, diags: Diagnostics, state: State) -> None:
        """Warnings about a state just read (e.g. policies the server lacks)."""

    def imported(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's name
        """The state an import ID gives (Terraform then reads the rest)."""
        values = {self.import_attribute: id.strip()}
        if "namespace" in self.spec.by_name:
            values["namespace"] = self.import_namespace()
        return self.import_state(**values)

    # ---- beats --------------------------------------------------------------------------------------

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        check(diags, config, self.spec.rules)
        self.check_config(diags, config)

    def plan_with_config(self, ctx: PlanContext, prior: State | None, proposed: State, config: Config) -> State | None:
        """Defaults for what the configuration leaves out (so removing an attribute sets it back); on create,
        unknown for every computed value the configuration does not give."""
        planned = dict(proposed)
        for f in self.spec.fields:
            if f.has_default and config.get(f.name) is None:
                planned[f.name] = f.fresh_default()
            elif prior is None and f.computed and not f.is_block and planned.get(f.name) is None:
                planned[f.name] = Unknown
        if prior is not None:
            # The servicer does this too, after any plan; here so that the plan itself is whole.
            planned.update({name: prior[name] for name in equivalent_to_prior(self.spec.attributes, prior, planned)})
        return self.adjust_plan(ctx, prior, planned, config)

    def _prepare(self) -> None:
        if self.enterprise:
            self.client.require_enterprise()

    def _warn(self, diags: Diagnostics, answer: Mapping[str, Any] | None) -> None:
        if self.warn_summary:
            for warning in (answer or {}).get("warnings") or []:
                diags.add_warning(self.warn_summary, str(warning))

    def _read_data(self, state: State) -> Mapping[str, Any] | None:
        body = self.client.read(self.object_path(state), namespace=state.get("namespace"))
        return body["data"] if body is not None and body.get("data") else None

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        namespace, diags = planned.get("namespace"), ctx.diagnostics
        try:
            self._prepare()
            if self.must_not_exist(planned) and self._read_data(planned) is not None:
                detail, path = self.existing_message(planned)
                diags.add_error(f"Unable to create {ctx.type_name}", detail, path=path)
                return None
            path = self.create_path or self.object_path(planned)
            answer = self.client.write(
                path, self.to_api(planned), namespace=namespace, representation=self.write_representation
            )
        except ApiError as exc:
            return self.failed(diags, "create", ctx.type_name, exc)
        identity = self.created_identity(planned, answer)
        if identity is None:
            detail = f"The server answered without the new {self.noun}'s id."
            diags.add_error(f"Unable to create {ctx.type_name}", detail)
            return None
        self._warn(diags, answer)
        created = {**planned, **identity}
        if not self.read_after_create and all(wholly_known(v) for v in created.values()):
            return created
        data = self.written_data(answer)
        if data is None:
            try:
                data = self._read_data(created)
            except ApiError as exc:
                api_error(diags, "read back the new", ctx.type_name, exc)
        if data is None:
            # The object exists: keep its keys in state (Terraform taints it after an error) so the next
            # apply replaces it rather than creating it again.
            if not diags.has_errors():
                diags.add_error(
                    f"Unable to read back the new {ctx.type_name}",
                    f"The new {self.noun} was written but could not be read back.",
                )
            return {k: "" if v is Unknown else v for k, v in created.items()}
        fresh = self.state_from_api(created, data)
        # What was planned (known) comes back as planned; the unknowns are filled in from the server.
        return {k: fresh.get(k) if v is Unknown else v for k, v in created.items()}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            data = self._read_data(current)
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if data is None:
            return None  # deleted out of band: Terraform plans to create it again
        state = self.state_from_api(current, data)
        self.after_read(ctx.diagnostics, state)
        return state

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        # The object is where it was: a change of what addresses it (name, namespace) replaces it instead.
        try:
            self._prepare()
            path, namespace = self.object_path(current), current.get("namespace")
            answer = self.client.write(
                path, self.to_api(planned), namespace=namespace, representation=self.write_representation
            )
            data = None
            if self.read_after_write:
                data = self.written_data(answer)
                if data is None:
                    data = self._read_data(current)
        except ApiError as exc:
            # Terraform keeps the prior state; the next refresh shows whatever the server now holds.
            return self.failed(ctx.diagnostics, "update", ctx.type_name, exc)
        self._warn(ctx.diagnostics, answer)
        if not self.read_after_write:
            return planned
        if data is None:
            ctx.diagnostics.add_error(
                f"Unable to update {ctx.type_name}", f"The {self.noun} was deleted while being updated."
            )
            return None
        return self.state_from_api(planned, data)

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.client.delete(self.object_path(current), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        if not id.strip():
            ctx.diagnostics.add_error("Invalid import ID", f"Import a {ctx.type_name} by {self.import_by}.")
            return None
        return self.imported(ctx, id)

    def import_by_id_or_name(
        self,
        ctx: ImportContext,
        id: str,  # noqa: A002 - tf's name
        by_id: Callable[[str], str],
        by_name: Callable[[str], str],
        id_name: str,
        name_name: str,
        what: str,
    ) -> State | None:
        """An import by name or id, in the import namespace: a UUID-shaped ID is looked up as an id first,
        then as a name; anything else as a name. The object is read here, so an ID that names nothing fails
        the import (`what` names the kind of object in that error)."""
        namespace = self.import_namespace()
        paths = [by_id(id), by_name(id)] if looks_like_uuid(id) else [by_name(id)]
        missing = f"No {what} with {id_name + ' or ' if len(paths) > 1 else ''}{name_name} {show(id)}"
        data = self.read_first_for_import(ctx, paths, namespace, missing)
        return None if data is None else self.state_from_api({"namespace": namespace}, data)

    def failed(self, diags: Diagnostics, verb: str, type_name: str, exc: ApiError) -> None:
        """The diagnostic of a refused write, at the attribute the server's error names."""
        return api_error(diags, verb, type_name, exc, attribute_of=self.spec.attribute_of)


__all__ = [
    "NO_DEFAULT",
    "Field",
    "ResourceSpec",
    "SpecResource",
    "looks_like_uuid",
    "namespace_field",
]
