"""The transport-neutral access layer: what a request is (its canonical form), who asks, whether they may,
and what the audit log says of it. HTTP routes (api.deps), the decision API and gRPC all go through it.

- `tokens`: the caller's token from headers or metadata, by one rule;
- `callers`: an admin token or an agent's JWT resolved to a caller, limited uses counted;
- `agents`: an agent's layers (baseline, ceiling, authorization_details) and its decisions;
- `layer`: the steps every transport takes (token, caller, authorization), recorded as they happen;
- `audit_trail`: one request's AccessRecord and the audit entries written from it;
- `canonical`: object names made canonical before the check;
- `policy_cache`: compiled policies keyed by what they are built from.

Free of web-framework imports; it depends on `audit` (entries, devices), never the other way round.
"""
