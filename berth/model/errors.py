"""The one exception type of the model layer.

Every validator in `berth.model` raises `ValidationError` with the dotted path of the field at
fault, so that loaders and APIs can report `file:line: field: message` without guessing.
"""


class ValidationError(ValueError):
    """A value failed validation; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def under(self, prefix: str) -> "ValidationError":
        """The same error, with its field path nested under `prefix`."""
        return ValidationError(f"{prefix}.{self.field}" if prefix else self.field, self.message)
