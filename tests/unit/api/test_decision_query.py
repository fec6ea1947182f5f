"""The decision API's question: every unusable field is a 400 naming it; unknown fields only warn."""

import pytest

from vaultguard.service.api.decision_query import OPERATIONS, CheckQuery, parse_query
from vaultguard.service.errors import ApiError

GOOD = {"token": "a.b.c", "operation": "read", "path": "secret/data/x"}


def test_a_complete_question_is_read_as_given():
    query, warnings = parse_query({**GOOD, "parameters": {"version": 2}})
    assert query == CheckQuery("a.b.c", "read", "secret/data/x", {"version": 2})
    assert warnings == []
    assert query.access_request().parameters == {"version": 2}


def test_a_leading_slash_is_dropped_from_the_path():
    assert parse_query({**GOOD, "path": "/secret/data/x"})[0].path == "secret/data/x"


def test_unknown_fields_are_ignored_with_vaults_warning():
    _query, warnings = parse_query({**GOOD, "tokne": "x"})
    assert warnings == ["Endpoint ignored these unrecognized parameters: [tokne]"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"token": None}, "token"),
        ({"token": ""}, "token"),
        ({"token": 12}, "token"),
        ({"operation": None}, "operation"),
        ({"operation": "sudo"}, "operation"),
        ({"operation": "READ"}, "operation"),
        ({"path": None}, "path"),
        ({"path": "/"}, "path"),
        ({"path": "secret/../sys/x"}, "path"),
        ({"path": "secret/\x00x"}, "path"),
        ({"path": ["secret"]}, "path"),
        ({"parameters": ["a"]}, "parameters"),
        ({"parameters": "a=b"}, "parameters"),
        ({"parameters": {"": 1}}, "parameters"),
    ],
)
def test_an_unusable_field_is_a_400_naming_it(change, field):
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ApiError) as err:
        parse_query(body)
    assert err.value.status == 400
    assert err.value.errors[0].startswith(f'field "{field}"'), err.value.errors


def test_the_operations_are_the_six_vault_request_operations():
    assert OPERATIONS == ("read", "list", "create", "update", "patch", "delete")
    for operation in OPERATIONS:
        assert parse_query({**GOOD, "operation": operation})[0].operation == operation
