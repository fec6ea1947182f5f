"""Stubs for `vaultguard.decision.v1` (decision_pb2, decision_pb2_grpc), generated at build/install time from
proto/vaultguard/decision/v1/decision.proto by the build_py hook in setup.py."""
