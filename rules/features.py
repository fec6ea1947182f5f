"""Gated features (Vault Enterprise's activation flags)."""

from __future__ import annotations

ACTIVATION_FLAGS = ("oauth-resource-server",)
"""The flags `sys/activation-flags` reports; the service has every one of them active from the start."""
