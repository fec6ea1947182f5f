"""The one error type routes raise; rendered as Vault's `{"errors": [...]}` envelope.

A validation error also says which request field it is about, as data: the body gains
`"field_errors": [{"field": ["public_keys", 1, "pem"], "error": "<the same text as in errors>"}]` (the field's
path in the request body: names of object keys, indexes of list elements). Vault's clients read `errors`
and ignore the rest; the Terraform provider reads `field_errors` to point at the attribute, without parsing
the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FieldPath = tuple[str | int, ...]

# The JSON schema of `ApiError.body()`: every 4xx and 5xx answer (the OpenAPI document's `VaultError`).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {"type": "array", "items": {"type": "string"}},
        "field_errors": {
            "type": "array",
            "description": "which request field each validation error is about",
            "items": {
                "type": "object",
                "required": ["field", "error"],
                "properties": {
                    "field": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "error": {"type": "string", "description": "the same text as in errors"},
                },
            },
        },
    },
}


class ApiError(Exception):
    def __init__(self, status: int, *errors: str, fields: Sequence[FieldPath | str | None] = ()):
        """`fields[i]`, when given, is the request field `errors[i]` is about (None: no one field)."""
        super().__init__("; ".join(errors))
        self.status = status
        self.errors = list(errors)
        self.fields: list[FieldPath | None] = [_path(f) for f in fields]

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        body: dict[str, Any] = {"errors": self.errors}
        about = [
            {"field": list(path), "error": message}
            for message, path in zip(self.errors, self.fields, strict=False)
            if path
        ]
        if about:
            body["field_errors"] = about
        return body


def _path(field: FieldPath | str | None) -> FieldPath | None:
    return (field,) if isinstance(field, str) else field


def bad_request(*errors: str) -> ApiError:
    return ApiError(400, *errors)


def invalid_field(field: FieldPath | str, message: str) -> ApiError:
    """A 400 about one request field (`"name"` or a path such as `("public_keys", 1, "pem")`)."""
    return ApiError(400, message, fields=[field])


def permission_denied() -> ApiError:
    # Never says why: the reason goes to the audit log (DECISIONS.md#d5).
    return ApiError(403, "permission denied")


def not_found(*errors: str) -> ApiError:
    return ApiError(404, *errors)


def unsupported_operation() -> ApiError:
    return ApiError(405, "1 error occurred:\n\t* unsupported operation\n\n")
