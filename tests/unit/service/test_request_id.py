"""Request ids are random version 4 UUIDs in the usual text form (Vault's request_id)."""

import uuid

from vaultguard.service import request_id


def test_request_ids_are_random_version_4_uuids_in_canonical_text():
    ids = [request_id.new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lowercase, 8-4-4-4-12
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    # every value of the variant's two free bits and of the random digits appears
    assert {text[19] for text in ids} == set("89ab")
    assert {text[0] for text in ids} == set("0123456789abcdef")


def test_a_request_keeps_its_id_until_the_next_one_starts():
    first = request_id.start()
    assert request_id.current() == first
    assert request_id.start() != first
