"""The floor of the gRPC stack: a DecisionService whose `Check` answers every call with a fixed answer,
served the way `vaultguard server` serves gRPC (grpc.aio on the worker's uvloop event loop, the same options
that matter here), with nothing else running in the process.

Run by bench_decision_api.py: `python tests/bench/bare_grpc.py ADDRESS`.
"""

from __future__ import annotations

import asyncio
import sys


async def serve(address: str) -> None:
    import grpc

    from vaultguard.proto.decision.v1 import decision_pb2, decision_pb2_grpc

    answer = decision_pb2.CheckResponse(allowed=True, reason="allowed", capabilities=["read"])

    class Fixed(decision_pb2_grpc.DecisionServiceServicer):
        async def Check(self, request, context):  # noqa: ANN001, ANN202, N802 - the generated name
            return answer

    server = grpc.aio.server()
    decision_pb2_grpc.add_DecisionServiceServicer_to_server(Fixed(), server)
    server.add_insecure_port(address)
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    import uvloop

    uvloop.install()  # as uvicorn's workers run
    asyncio.run(serve(sys.argv[1]))
