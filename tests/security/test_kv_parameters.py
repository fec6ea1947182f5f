"""Parameter constraints on KV v2 writes are checked on the body that will be stored (they used to be
skipped: the check of `secret/data/*` writes got no parameters)."""

from __future__ import annotations

from api.api_objects import child_token, put_policy

KV_WRITER = """
path "secret/data/*" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = {
    "data" = []
  }
}
"""


def test_kv_writes_are_checked_with_the_body_they_store(api) -> None:
    put_policy(api, "kv-writer", KV_WRITER)
    writer = api.with_token(child_token(api, ["kv-writer"]))

    assert writer.post("secret/data/app", json={"data": {"k": "v"}}).status_code == 200
    refused = writer.post("secret/data/app", json={"data": {"k": "w"}, "options": {"cas": 1}})

    assert refused.status_code == 403, refused.text
    assert api.get("secret/data/app").json()["data"]["data"] == {"k": "v"}
