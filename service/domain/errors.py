"""Domain errors: what the rules refuse. `service.errors` maps each to an RFC 9457 problem."""


class DomainError(Exception):
    """A request the rules refuse; carries a sentence a person can act on."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
