"""Errors a user can fix, each with a one-line message.

Every command maps a :class:`CellAnnotateError` to ``error: <message>`` on stderr and
its ``exit_code``; anything else is a bug and is reported as an internal error.
Messages never carry secrets: token values are kept out of them by construction.
"""


class CellAnnotateError(Exception):
    """Base class: a failure with a message written for the user."""

    exit_code = 1


class MatrixError(CellAnnotateError):
    """The input is not a usable 10x feature-barcode matrix."""

    exit_code = 3


class TokenError(CellAnnotateError):
    """The 10x Cloud token is missing, unsafe or malformed."""

    exit_code = 4


class ModelError(CellAnnotateError):
    """A model is missing, corrupt, or cannot be applied to this sample."""

    exit_code = 5


class CloudError(CellAnnotateError):
    """The 10x Cloud service refused or failed the request."""

    exit_code = 6


class OutputError(CellAnnotateError):
    """Outputs could not be written."""

    exit_code = 7


class UsageError(CellAnnotateError):
    """An option's value is not acceptable (the same exit code as Click's usage errors)."""

    exit_code = 2
