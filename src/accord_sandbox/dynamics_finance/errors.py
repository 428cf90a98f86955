"""The one exception the Dynamics 365 Finance emulator raises internally, and its kinds.

Raised anywhere below the routes and answered by the emulator in finance and operations'
OData error shape: ``{"error": {"code": "", "message": ..., "innererror": {"message",
"type", "stacktrace"}}}``. A failed write carries the X++ Infolog text in
``innererror.message`` and ``AxODataWriteException`` as its type (the shape of Microsoft's
responses as quoted in public write-ups; statuses are [inferred], see the docs).
"""

__all__ = ["ACTION_ERROR", "WRITE_ERROR", "FinError", "not_found", "write_failed"]

WRITE_ERROR = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
"""``innererror.type`` of a create, update or delete the application refused."""
ACTION_ERROR = "Microsoft.Dynamics.Ax.Xpp.ErrorException"
"""``innererror.type`` of an X++ error thrown inside a bound action [inferred]."""


class FinError(Exception):
    """An error answer: HTTP status, top-level message and the optional inner error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        inner: str | None = None,
        inner_type: str | None = None,
    ) -> None:
        super().__init__(f"{status}: {inner or message}")
        self.status = status
        self.message = message
        self.inner = inner
        self.inner_type = inner_type

    def body(self) -> dict[str, object]:
        """The JSON body finance and operations answers with."""
        error: dict[str, object] = {"code": "", "message": self.message}
        if self.inner is not None:
            error["innererror"] = {
                "message": self.inner,
                "type": self.inner_type or WRITE_ERROR,
                "stacktrace": "",
            }
        return {"error": error}


def write_failed(table: str, *warnings: str, status: int = 400) -> FinError:
    """A write the application refused: the Infolog's warnings, joined as F&O joins them."""
    infolog = "; ".join(f"Warning: {w}" for w in warnings)
    return FinError(
        status,
        "An error has occurred.",
        inner=f"Write failed for table row of type '{table}'. Infolog: {infolog}",
        inner_type=WRITE_ERROR,
    )


def not_found(segment: str) -> FinError:
    """404 for a key that matches no record (ASP.NET OData's wording [inferred])."""
    return FinError(404, f"Resource not found for the segment '{segment}'.")
