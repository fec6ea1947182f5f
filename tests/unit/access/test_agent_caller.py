"""AgentCaller.for_token: a known agent's next token reuses its resolution, compiled layers and remembered
decisions (they depend on those layers and the request only), never the other token; and the identity key
templated layers are compiled under."""

from __future__ import annotations

from vaultguard.service.access.agents import AgentCaller, identity_content
from vaultguard.service.authz.acl import AccessRequest
from vaultguard.service.identity.groups import Membership
from vaultguard.service.identity.model import Alias, Entity, Group


def test_a_new_token_shares_the_compiled_layers_and_decisions_but_not_the_token():
    first = AgentCaller(
        token="token-1", raw_token="raw-1", resolution="resolution", groups="groups", baseline_policies=("team",),
        baseline="baseline-acl", ceiling="ceiling-acl", details="details", rar_optional=False, passed=(),
    )  # fmt: skip
    first.decisions.put(AccessRequest("secret/data/a", "read"), "remembered")
    second = first.for_token("token-2", "raw-2")
    assert (second.token, second.raw_token) == ("token-2", "raw-2")
    assert (first.token, first.raw_token) == ("token-1", "raw-1")
    assert (second.resolution, second.groups, second.baseline, second.ceiling, second.details) == (
        "resolution", "groups", "baseline-acl", "ceiling-acl", "details")  # fmt: skip
    assert second.decisions.get(AccessRequest("secret/data/a", "read")) == "remembered"
    assert second.decide(AccessRequest("secret/data/a", "read")) == "remembered"


# -- the key templated policies and RAR entries are compiled under (DECISIONS.md#d54) ------------------------


def _subject_and_groups(**changes):  # noqa: ANN202
    entity = {"name": "alice", "metadata": {"team": "red"}, "policies": ["team"], "last_update_time": "t1"}
    alias = {"name": "alice@idp", "custom_metadata": {"site": "eu"}}
    group = {"name": "devs", "metadata": {"tier": "1"}, "policies": ["devs"]}
    for target, field_name, value in changes.get("edits", ()):
        {"entity": entity, "alias": alias, "group": group}[target][field_name] = value
    subject = Entity(id="e1", namespace_id="root", aliases=[Alias(id="a1", namespace_id="root", canonical_id="e1",
                     mount_accessor="auth_oauth_1", **alias)], **entity)  # fmt: skip
    return subject, Membership(groups=(Group(id="g1", namespace_id="root", **group),))


def test_the_identity_key_changes_with_everything_a_template_reads():
    key = identity_content(*_subject_and_groups())
    for edit in [("entity", "name", "alice2"), ("entity", "metadata", {"team": "blue"}), ("alias", "name", "a@x"),
                 ("alias", "custom_metadata", {"site": "us"}), ("group", "name", "ops"),
                 ("group", "metadata", {"tier": "2"})]:  # fmt: skip
        assert identity_content(*_subject_and_groups(edits=[edit])) != key, edit


def test_the_identity_key_stays_when_only_what_no_template_reads_changes():
    key = identity_content(*_subject_and_groups())
    for edit in [("entity", "policies", ["other"]), ("entity", "last_update_time", "t2"),
                 ("group", "policies", ["other"])]:  # fmt: skip
        assert identity_content(*_subject_and_groups(edits=[edit])) == key, edit
