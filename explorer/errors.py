"""The project's own exception types: each carries a message a person can act on."""

from __future__ import annotations


class ExplorerError(Exception):
    """Base class for errors a user can meet; the message says what to do."""


class ConfigError(ExplorerError, ValueError):
    """A model or training setting is out of range or inconsistent."""


class DatasetUnavailable(ExplorerError):
    """The data set's files are not on disk and could not be downloaded."""


class DeviceUnavailable(ExplorerError):
    """The requested device (cuda, mps) is not present on this machine."""


class TrainingDiverged(ExplorerError):
    """The loss became NaN or infinite; `result` holds the last good state."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class TrainingCancelled(Exception):
    """Raised from a training callback to stop after the current batch."""
