"""The one error type routes raise; rendered as Vault's `{"errors": [...]}` envelope."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, *errors: str):
        super().__init__("; ".join(errors))
        self.status = status
        self.errors = list(errors)


def bad_request(*errors: str) -> ApiError:
    return ApiError(400, *errors)


def permission_denied() -> ApiError:
    # Never says why: the reason goes to the audit log (DECISIONS.md#d5).
    return ApiError(403, "permission denied")


def not_found(*errors: str) -> ApiError:
    return ApiError(404, *errors)


def unsupported_operation() -> ApiError:
    return ApiError(405, "1 error occurred:\n\t* unsupported operation\n\n")
