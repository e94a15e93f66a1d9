"""Errors a user can act on. Each message says what happened, the values involved and the fix."""


class TerritoryError(Exception):
    """Base class for errors a user can act on (the CLI prints them without a traceback)."""


class DataContractError(TerritoryError):
    """The CRM export breaks the data contract in a way that makes it unusable."""
