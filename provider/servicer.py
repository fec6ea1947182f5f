"""gRPC servicers registered by `plugin_server.serve`: tf's provider servicer, extended, plus go-plugin's.

`VaultProviderServicer` keeps every behaviour of `tf.provider.ProviderServicer` and adds one thing: an
exception escaping a resource hook becomes an error diagnostic on the RPC's response instead of a bare gRPC
failure ("rpc error: code = Unknown"), so the user sees which operation failed and the provider process
keeps serving the rest of the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tf.gen import grpc_controller_pb2, grpc_controller_pb2_grpc, grpc_stdio_pb2_grpc
from tf.gen import tfplugin_pb2 as pb
from tf.provider import ProviderServicer
from tf.utils import Diagnostics

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


def _guarded(name: str) -> Callable[..., Any]:
    inherited = getattr(ProviderServicer, name)
    response_type = getattr(pb, name).Response

    def rpc(self: ProviderServicer, request: Any, context: Any) -> Any:
        try:
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
    rpc.__doc__ = f"tf's {name}, with unexpected exceptions reported as an error diagnostic."
    return rpc


class VaultProviderServicer(ProviderServicer):
    """tf's ProviderServicer; see the module docstring for what is added."""


for _name in _RPCS_WITH_DIAGNOSTICS:
    setattr(VaultProviderServicer, _name, _guarded(_name))
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
