"""OAuth resource server profiles: what a profile accepts, and how issuers compare."""

from __future__ import annotations

# DECISIONS.md#d22: the JWS algorithms a profile may allow. HS* and "none" are never in this list (RFC 8725 §3.1, §2.1).
ALGORITHMS: tuple[str, ...] = (
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA",
)  # fmt: skip

JWT_TYPES: tuple[str, ...] = ("access_token", "transaction_token")
"""`transaction_token` is the 2.0.x compatibility switch (DECISIONS.md#d24, #d1)."""

NAME_MAX_LENGTH = 128
"""Longest profile name."""

MAX_CLOCK_SKEW_LEEWAY = 3600
"""One hour: any real clock drift is far below this; a larger leeway would quietly extend every token."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_issuer(issuer: str) -> str:
    """DECISIONS.md#d19: lowercase and strip one trailing "/"; used for `issuer_id`, alias `issuer` and a token's `iss`.

    Only ASCII letters are lowercased, so Unicode case folding can never make two different issuers equal
    (e.g. KELVIN SIGN U+212A folds to "k" under `str.lower`).
    """
    lowered = issuer.translate(_ASCII_LOWER)
    return lowered[:-1] if lowered.endswith("/") else lowered
