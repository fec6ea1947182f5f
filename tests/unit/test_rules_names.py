"""vaultguard.rules.names: the control-character rule that names and paths share (service and provider)."""

from __future__ import annotations

import pytest

from vaultguard.rules.names import has_control_characters

CONTROLS = [chr(c) for c in range(32)] + ["\x7f"]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("where", ["alone", "start", "middle", "end"])
def test_every_c0_control_and_del_is_found_anywhere(char, where):
    text = {"alone": char, "start": char + "app/db", "middle": "app" + char + "db", "end": "app/db" + char}[where]
    assert has_control_characters(text)


OTHER_TEXT = ["", "app/db", " spaced name ", "é/ü/日本", "\x80\x9f", "\u2028", "a\u00a0b", "~!@#$%^&*()"]


@pytest.mark.parametrize("text", OTHER_TEXT)
def test_other_text_is_not_refused(text):
    """C1 controls, Unicode separators and non-breaking spaces are not C0 controls: the rule stays as it was."""
    assert not has_control_characters(text)
