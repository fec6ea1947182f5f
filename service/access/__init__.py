"""The transport-neutral access layer: what a request is (its canonical form) and whether it may be done.

Free of web-framework and database imports, so HTTP routes, the decision API and gRPC can share it.
"""
