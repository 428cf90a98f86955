"""The one exception the Business Central emulator raises internally.

Raised anywhere below the routes and answered by the emulator's ``error_response`` in BC's
``{"error":{"code","message"}}`` shape, so handlers never build error bodies themselves.
"""

__all__ = ["BCError"]


class BCError(Exception):
    """A BC error answer: HTTP status, ``Category_Reason`` code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
