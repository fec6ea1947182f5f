"""gRPC servicers registered by `plugin_server.serve`: tf's provider servicer, extended, plus go-plugin's.

`VaultProviderServicer` keeps every behaviour of `tf.provider.ProviderServicer` and adds:

- every incoming request's values are rewritten so that each unknown, refined or not, is the form tf decodes
  (`unknown_values`): resources never see a raw msgpack extension;
- an exception escaping a resource hook becomes an error diagnostic on the RPC's response instead of a bare
  gRPC failure ("rpc error: code = Unknown"), so the user sees which operation failed and the provider
  process keeps serving the rest of the run;
- an opt-in plan hook that sees the configuration (`ConfigAwarePlan`): tf's `plan` is not called on create
  and never sees the config, so it cannot tell "removed from the configuration" from "unchanged" for an
  optional+computed attribute, nor apply a default when one is removed. A resource class that defines
  `plan_with_config` gets it called for create and update plans instead of tf's planning;
- a plan keeps the prior value of an attribute whose new value is only a respelling of it (the attribute's
  type says so with `semantically_equal`: a policy name in another case, an issuer with a trailing `/`),
  for every resource type (`equivalent_to_prior`);
- GetProviderSchema's answer says the schema is optional, so Terraform asks for it once per command,
  not once per provider process;
- after `configure_provider`, the provider checks its connection and token (`check_connection`), so a
  wrong address, token or CA fails the run when Terraform configures the provider, also with an empty state;
- destroy plans: should Terraform ask the provider to plan a destroy (proposed new state null; Terraform
  1.15 does not, but the protocol allows it), the answer is the null plan, where tf would report an error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any, Protocol, runtime_checkable

from tf.gen import grpc_controller_pb2, grpc_controller_pb2_grpc, grpc_stdio_pb2_grpc
from tf.gen import tfplugin_pb2 as pb
from tf.iface import Config, PlanContext, State
from tf.provider import ProviderServicer, _decode_state, _encode_state
from tf.utils import Diagnostics, _to_attribute_path, to_dynamic_value

from vaultguard.provider.framework import wholly_known
from vaultguard.provider.unknown_values import canonicalize_request

# RPCs whose response message carries diagnostics; CallFunction and StopProvider have none.
_RPCS_WITH_DIAGNOSTICS = (
    "GetMetadata",
    "GetProviderSchema",
    "ValidateProviderConfig",
    "ConfigureProvider",
    "ValidateResourceConfig",
    "ValidateDataResourceConfig",
    "UpgradeResourceState",
    "ReadResource",
    "PlanResourceChange",
    "ApplyResourceChange",
    "ImportResourceState",
    "ReadDataSource",
)


def _guarded(name: str, inherited: Callable[..., Any]) -> Callable[..., Any]:
    response_type = getattr(pb, name).Response

    def rpc(self: ProviderServicer, request: Any, context: Any) -> Any:
        try:
            canonicalize_request(request)
            return inherited(self, request, context)
        except Exception as exc:
            # tf's own wrapper has already printed the traceback to stderr (Terraform's provider log).
            detail = f"{type(exc).__name__}: {exc}\n\nThis is a bug in the vault provider; please report it."
            type_name = getattr(request, "type_name", "")
            summary = f"Internal error in the vault provider during {name}" + (
                f" for {type_name}" if type_name else ""
            )
            diags = Diagnostics().add_error(summary, detail)
            return response_type(diagnostics=diags.to_pb())

    rpc.__name__ = rpc.__qualname__ = name
    rpc.__doc__ = (
        f"tf's {name}, on a request whose unknown values are all in tf's form, with unexpected exceptions"
        " reported as an error diagnostic."
    )
    return rpc


@runtime_checkable
class ConfigAwarePlan(Protocol):
    """What a resource defines to plan with the configuration in view (see the module docstring).

    `plan_with_config(ctx, prior, proposed, config)` is called for every create plan (`prior` None) and
    update plan. `proposed` is Terraform's proposed new state (config merged over prior, computed values
    carried from prior), `config` the configuration as written (null where unset, Unknown where not yet
    known). It returns the planned state, or None with an error diagnostic. The servicer then marks the
    `requires_replace` attributes whose planned value differs from the prior one, so a plan may keep the
    prior spelling of an equivalent value without forcing a replacement.
    """

    def plan_with_config(
        self, ctx: PlanContext, prior: State | None, proposed: State, config: Config
    ) -> State | None: ...


class VaultProviderServicer(ProviderServicer):
    """tf's ProviderServicer; see the module docstring for what is added."""

    def GetProviderSchema(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = ProviderServicer.GetProviderSchema(self, request, context)
        # Terraform reads the capabilities from this answer, not from GetMetadata's: with this one, the other
        # provider processes of the same command use the schema it cached instead of asking again
        # (DECISIONS.md#d66). plan_destroy stays off here, as Terraform saw it before.
        response.server_capabilities.get_provider_schema_optional = True
        return response

    def ConfigureProvider(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = ProviderServicer.ConfigureProvider(self, request, context)
        if not any(d.severity == pb.Diagnostic.ERROR for d in response.diagnostics):
            diags = Diagnostics()
            self.app.check_connection(diags)
            response.diagnostics.extend(diags.to_pb())
        return response

    def PlanResourceChange(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        type_name = request.type_name
        attrs = self._get_res_attrs(type_name)
        blocks = self._get_res_blocks(type_name)
        diags = Diagnostics()
        prior_enc, prior = _decode_state(diags, attrs, blocks, request.prior_state)
        proposed_enc, proposed = _decode_state(diags, attrs, blocks, request.proposed_new_state)
        if diags.has_errors():
            return pb.PlanResourceChange.Response(diagnostics=diags.to_pb())
        if proposed is None:
            # A destroy: nothing to adjust, the planned new state is null.
            return pb.PlanResourceChange.Response(planned_state=to_dynamic_value(None))

        inst = self.app.new_resource(self._get_res_cls(type_name))
        # What isinstance(inst, ConfigAwarePlan) answers, without typing's runtime protocol check, which
        # inspects the class's members on every call (about a fifth of a plan's time in the provider).
        config_aware = callable(getattr(inst, "plan_with_config", None))
        if prior is None and not config_aware:
            return ProviderServicer.PlanResourceChange(self, request, context)

        changed = set()
        if prior is not None:
            changed = {
                k
                for k in attrs
                if k in prior and k in proposed and not attrs[k].type.semantically_equal(prior[k], proposed[k])
            }
        ctx = PlanContext(diags, type_name, changed_fields=changed)
        if config_aware:
            _, config = _decode_state(diags, attrs, blocks, request.config)
            if diags.has_errors():
                return pb.PlanResourceChange.Response(diagnostics=diags.to_pb())
            planned = inst.plan_with_config(ctx, deepcopy(prior), deepcopy(proposed), config or {})
        else:
            planned = inst.plan(ctx, deepcopy(prior), deepcopy(proposed))
        if planned is None or diags.has_errors():
            return pb.PlanResourceChange.Response(diagnostics=diags.to_pb())
        requires_replace = []
        if prior is not None:
            kept = equivalent_to_prior(attrs, prior, planned)
            planned = {**planned, **{name: prior[name] for name in kept}}
            # tf's encoder reuses the reference's encoding of a value equivalent to the new one: for what
            # the plan keeps (here or in the resource's plan), the reference must be the prior's.
            same = [name for name in attrs if name in prior_enc and planned.get(name) == prior.get(name)]
            proposed_enc = {**proposed_enc, **{name: prior_enc[name] for name in same}}
            requires_replace = [
                _to_attribute_path([k])
                for k, a in attrs.items()
                if a.requires_replace and not a.type.semantically_equal(prior.get(k), planned.get(k))
            ]
        return pb.PlanResourceChange.Response(
            planned_state=_encode_state(attrs, blocks, planned, proposed_enc),
            requires_replace=requires_replace,
            diagnostics=diags.to_pb(),
        )


def equivalent_to_prior(attrs: Mapping[str, Any], prior: State, planned: State) -> list[str]:
    """The attributes whose planned value differs from the prior one only in spelling: the plan keeps
    the prior value for them.

    The server stores some values normalized (a lowercased policy name, an issuer without its trailing `/`;
    the attribute's type says which, with `semantically_equal`). State after an import holds the server's
    spelling and the configuration may hold another; both are the same object, so the plan keeps the prior
    one (Terraform accepts a planned value equal to the prior one in place of the configuration's). Without
    this, everything that refers to the attribute would see it change, and an import would never plan empty.
    """
    kept = []
    for name, attr in attrs.items():
        old, new = prior.get(name), planned.get(name)
        if old is None or new is None or old == new or not wholly_known(new):
            continue
        if attr.type.semantically_equal(old, new):
            kept.append(name)
    return kept


for _name in _RPCS_WITH_DIAGNOSTICS:
    setattr(VaultProviderServicer, _name, _guarded(_name, getattr(VaultProviderServicer, _name)))
del _name


class ControllerServicer(grpc_controller_pb2_grpc.GRPCControllerServicer):
    """go-plugin's controller: Terraform calls Shutdown when it is done with the provider."""

    def __init__(self, stopping: threading.Event):
        self._stopping = stopping

    def Shutdown(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._stopping.set()
        return grpc_controller_pb2.Empty()


class StdioServicer(grpc_stdio_pb2_grpc.GRPCStdioServicer):
    """go-plugin's stdio stream. The provider's stdout/stderr already reach Terraform's log, so the
    stream ends at once (go-plugin treats the end of the stream as normal)."""

    def __init__(self, stopping: threading.Event):
        self._stopping = stopping

    def StreamStdio(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        return iter(())
