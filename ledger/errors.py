"""The one exception tree of the service; the HTTP layer maps it to error JSON by MRO.

    BuddoError                        every error we raise on purpose
    ├── ValidationError               bad input (fields: name -> problems)          422
    ├── InsufficientPointsError       a debit larger than the balance (balance)     422
    ├── TransferRefusedError          a block stands between sender and recipient   422
    ├── UnauthorizedError             no valid credentials                          401
    │   └── TotpRequiredError         right password, TOTP code missing             401
    ├── InvalidCodeError              a bad, expired or used one-time code          400
    ├── ForbiddenError                authenticated, but not allowed                403
    ├── NotFoundError                 no such thing                                 404
    ├── ConflictError                 the state forbids it (duplicate, bad move)    409
    │   ├── IdempotencyConflictError  same key, different request                   409
    │   └── IdempotencyInProgressError same key, first request still running        409
    ├── OAuthProtocolError            RFC 6749 5.2 errors of the token endpoints    400
    │   └── InvalidClientError        client authentication failed                  401
    └── UnavailableError              the store cannot serve now (retry_after)      503
        └── ContentionError           optimistic retries exhausted                  503

The HTTP layer adds its own subclasses (authentication, rate limits) under BuddoError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class BuddoError(Exception):
    """Base of every error the service raises on purpose."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extra(self) -> dict[str, object]:
        """Structured fields added to the error body beside `error` and `message`."""
        return {}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer to this error carries (rate limits, for one)."""
        return {}


class ValidationError(BuddoError):
    """The request is well formed but its values break a rule."""

    code = "validation_failed"

    def __init__(self, fields: Mapping[str, Sequence[str]], message: str = "") -> None:
        super().__init__(message or "The request has invalid fields.")
        self.fields = {name: list(problems) for name, problems in fields.items()}

    def extra(self) -> dict[str, object]:
        return {"fields": self.fields}


class InsufficientPointsError(BuddoError):
    """A debit would take an account below zero."""

    code = "insufficient_points"

    def __init__(self, account: str, balance: int, amount: int) -> None:
        super().__init__(f"Balance {balance} does not cover {amount} points.")
        self.account = account
        self.balance = balance
        self.amount = amount

    def extra(self) -> dict[str, object]:
        return {"balance": self.balance}


class TransferRefusedError(BuddoError):
    """One of the two users blocked the other: no points move between them."""

    code = "transfer_refused"

    def __init__(self) -> None:
        super().__init__("Points cannot be transferred between these users.")


class UnauthorizedError(BuddoError):
    """The credentials are missing, wrong, expired or revoked (one answer for all)."""

    code = "unauthorized"

    def __init__(self, message: str = "Invalid credentials.") -> None:
        super().__init__(message)


class TotpRequiredError(UnauthorizedError):
    """The password was right and the account needs a TOTP code too."""

    code = "totp_required"

    def __init__(self) -> None:
        super().__init__("A TOTP code is required.")

    def extra(self) -> dict[str, object]:
        return {"totp_required": True}


class InvalidCodeError(BuddoError):
    """A one-time code (verification, reset, TOTP, recovery) is wrong, expired or used."""

    code = "invalid_request"


class ForbiddenError(BuddoError):
    """The caller is known but may not do this."""

    code = "forbidden"


class NotFoundError(BuddoError):
    """The thing asked for does not exist (or is not the caller's to see)."""

    code = "not_found"


class ConflictError(BuddoError):
    """The current state forbids the request."""

    code = "conflict"


class IdempotencyConflictError(ConflictError):
    """An idempotency key was reused for a different request."""

    code = "idempotency_conflict"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used for a different request.")


class IdempotencyInProgressError(ConflictError):
    """The first request with this key has not finished yet."""

    code = "idempotency_in_progress"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")


class OAuthProtocolError(BuddoError):
    """An error of the OAuth protocol endpoints, answered as RFC 6749's error JSON.

    `code` is one of invalid_request, invalid_client, invalid_grant, unauthorized_client,
    unsupported_grant_type, invalid_scope.
    """

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


class InvalidClientError(OAuthProtocolError):
    """The client is unknown, or its credentials are wrong (RFC 6749 5.2: 401)."""

    def __init__(self, description: str = "Client authentication failed.") -> None:
        super().__init__("invalid_client", description)


class UnavailableError(BuddoError):
    """The store cannot serve the request now; retrying later may succeed."""

    code = "service_unavailable"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def extra(self) -> dict[str, object]:
        return {"retry_after": self.retry_after}


class ContentionError(UnavailableError):
    """Concurrent writers kept winning; the command gave up after its bounded retries."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"Too much contention: gave up after {attempts} attempts.")
        self.attempts = attempts
