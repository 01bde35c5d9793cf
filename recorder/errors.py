"""Errors the CLI turns into a one-line message and exit code 2."""


class RecorderError(Exception):
    """Something the operator must fix before the agent can run (exit code 2)."""


class ConfigError(RecorderError):
    """The configuration file or a command-line setting is invalid."""


class StoreError(RecorderError):
    """The evidence store cannot be used (missing, unwritable, inconsistent)."""


class CaptureError(RecorderError):
    """A capture source failed or vanished (camera, microphone). Evidence already
    sealed stays sealed; the open session is closed with this as its cause."""


class PipelineFault(RecorderError):
    """Writing or sealing failed on the device (a full disk, an I/O error): the recorder
    went into fault mode and ended its run with what was sealed. Its own exit code, so a
    supervisor can tell it from a configuration error."""
