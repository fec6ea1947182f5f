"""Racing writers and cross-worker visibility (the shared server runs 2 workers).

Uniqueness rules hold under races: exactly one writer wins, every loser gets a 400 that names the rule,
never a 500 or a storage error. A change made through one worker is seen by the very next request.
"""

from __future__ import annotations

from collections import Counter

import requests
from api_objects import create_entity, jwks_profile, put_policy, registration
from api_objects import race as race_all

RACERS = 20


def race(api, requests_to_send):  # noqa: ANN001, ANN201
    """Send one request per (method, path, body) at the same moment, each on its own connection."""
    return race_all([(api, *item) for item in requests_to_send])


def outcome(responses) -> Counter:  # noqa: ANN001
    return Counter(r.status_code for r in responses)


def test_racing_registrations_of_one_display_name_have_exactly_one_winner(api):
    entities = [create_entity(api) for _ in range(RACERS)]
    responses = race(
        api,
        [("POST", "agent-registry/register", {"display_name": "contested", "entity_id": e}) for e in entities],
    )
    assert outcome(responses) == Counter({200: 1, 400: RACERS - 1}), [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()["data"]["id"]
    for loser in (r for r in responses if r.status_code == 400):
        [message] = loser.json()["errors"]
        assert message == f'display_name: "contested" is already used by agent registration "{winner}"', message
    assert api.list("agent-registry/registration/id").json()["data"]["keys"] == [winner]


def test_racing_registrations_of_one_entity_have_exactly_one_winner(api):
    entity = create_entity(api)
    responses = race(
        api,
        [
            ("POST", "agent-registry/register", {"display_name": f"agent-{i}", "entity_id": entity})
            for i in range(RACERS)
        ],
    )
    assert outcome(responses) == Counter({200: 1, 400: RACERS - 1}), [r.text for r in responses]
    for loser in (r for r in responses if r.status_code == 400):
        [message] = loser.json()["errors"]
        assert message.startswith("entity_id: ") and "already has" in message, message


def test_racing_profiles_for_one_issuer_have_exactly_one_winner(api):
    body = jwks_profile("https://contested.example.com")
    responses = race(api, [("POST", f"sys/config/oauth-resource-server/p{i}", body) for i in range(RACERS)])
    assert outcome(responses) == Counter({204: 1, 400: RACERS - 1}), [r.text for r in responses]
    assert len(api.list("sys/config/oauth-resource-server").json()["data"]["keys"]) == 1
    [winner] = api.list("sys/config/oauth-resource-server").json()["data"]["keys"]
    for loser in (r for r in responses if r.status_code == 400):
        # Also when both writers passed the check at once: the loser re-runs it and names the winner.
        [message] = loser.json()["errors"]
        assert message == f'duplicate issuer_id "https://contested.example.com" found in profile "{winner}"', message


def test_racing_creates_of_one_profile_name_never_fail_with_a_server_error(api):
    body = jwks_profile("https://same-name.example.com")
    responses = race(api, [("POST", "sys/config/oauth-resource-server/same", body)] * RACERS)
    codes = outcome(responses)
    assert set(codes) <= {204, 400}, [r.text for r in responses]
    assert codes[204] >= 1
    assert api.list("sys/config/oauth-resource-server").json()["data"]["keys"] == ["same"]


def test_racing_entities_with_one_name_have_exactly_one_winner(api):
    responses = race(api, [("POST", "identity/entity", {"name": "contested"})] * RACERS)
    assert outcome(responses) == Counter({200: 1, 400: RACERS - 1}), [r.text for r in responses]
    for loser in (r for r in responses if r.status_code == 400):
        [message] = loser.json()["errors"]
        assert message.startswith("name: an entity") and "already exists" in message, message
    assert api.list("identity/entity/name").json()["data"]["keys"] == ["contested"]


def test_racing_oauth_aliases_for_one_external_id_have_exactly_one_winner(api):
    api.post("sys/config/oauth-resource-server/idp", json=jwks_profile("https://alias-race.example.com"))
    entities = [create_entity(api) for _ in range(RACERS)]
    body = {"issuer": "https://alias-race.example.com", "external_id": "user-1"}
    responses = race(
        api,
        [
            ("POST", "identity/entity-alias", {"name": f"a{i}", "canonical_id": e, **body})
            for i, e in enumerate(entities)
        ],
    )
    assert outcome(responses) == Counter({200: 1, 400: RACERS - 1}), [r.text for r in responses]
    for loser in (r for r in responses if r.status_code == 400):
        assert loser.json()["errors"] == ["alias already exists for issuer and external_id"]


def test_concurrent_updates_of_one_registration_all_succeed_and_one_wins(api):
    record = registration(api)
    path = f"agent-registry/registration/id/{record['id']}"
    responses = race(api, [("POST", path, {"entity_id": record["entity_id"], "owner": f"o{i}"}) for i in range(RACERS)])
    assert outcome(responses) == Counter({200: RACERS}), [r.text for r in responses]
    assert api.get(path).json()["data"]["owner"] in {f"o{i}" for i in range(RACERS)}


# -- visibility across workers ------------------------------------------------------------------------------


def _fresh(api):  # noqa: ANN001, ANN202
    """A request on a new connection (so either worker may answer it)."""
    headers = {"X-Vault-Token": api.token, "X-Vault-Namespace": api.namespace}

    def send(method, path, body=None):  # noqa: ANN001, ANN202
        return requests.request(method, f"{api.url}/v1/{path}", json=body, headers=headers, timeout=30)

    return send


def test_a_write_is_visible_to_the_very_next_request_on_any_worker(api):
    send = _fresh(api)
    record = registration(api)
    path = f"agent-registry/registration/id/{record['id']}"
    for i in range(50):
        assert send("POST", path, {"entity_id": record["entity_id"], "owner": f"v{i}"}).status_code == 200
        assert send("GET", path).json()["data"]["owner"] == f"v{i}"


def test_a_delete_is_visible_to_the_very_next_request_on_any_worker(api):
    send = _fresh(api)
    for i in range(25):
        created = send("POST", "identity/entity", {"name": f"e{i}"})
        entity_id = created.json()["data"]["id"]
        assert send("GET", f"identity/entity/id/{entity_id}").status_code == 200
        assert send("DELETE", f"identity/entity/id/{entity_id}").status_code == 204
        assert send("GET", f"identity/entity/id/{entity_id}").status_code == 404


def test_a_policy_change_is_enforced_on_the_very_next_request_on_any_worker(api):
    put_policy(api, "flip", 'path "sys/policies/acl/flip" { capabilities = ["read"] }')
    token = api.post("auth/token/create", json={"policies": ["flip"]}).json()["auth"]["client_token"]
    headers = {"X-Vault-Token": token, "X-Vault-Namespace": api.namespace}
    send = _fresh(api)
    for i in range(25):
        capability = "deny" if i % 2 else "read"
        assert (
            send(
                "POST",
                "sys/policies/acl/flip",
                {"policy": f'path "sys/policies/acl/flip" {{ capabilities = ["{capability}"] }}'},
            ).status_code
            == 204
        )
        resp = requests.get(f"{api.url}/v1/sys/policies/acl/flip", headers=headers, timeout=30)
        assert resp.status_code == (403 if i % 2 else 200), (i, resp.text)


def test_a_revoked_token_is_refused_on_the_very_next_request_on_any_worker(api):
    for _ in range(10):
        token = api.post("auth/token/create", json={"policies": ["default"]}).json()["auth"]["client_token"]
        headers = {"X-Vault-Token": token, "X-Vault-Namespace": api.namespace}
        assert requests.get(f"{api.url}/v1/auth/token/lookup-self", headers=headers, timeout=30).status_code == 200
        assert requests.post(f"{api.url}/v1/auth/token/revoke-self", headers=headers, timeout=30).status_code == 204
        assert requests.get(f"{api.url}/v1/auth/token/lookup-self", headers=headers, timeout=30).status_code == 403
