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


class RunInterrupted(RecorderError):
    """An interruption ended the run, with what was recorded sealed and the interruption in
    the ledger. Its own exit code tells the supervisor what to do (docs/INTERRUPTIONS.md)."""

    exit_code = 75
    label = "interrupted"


class RestartRequired(RunInterrupted):
    """A fault (a camera stall, a lost microphone, an encoder, muxer or seal failure): start
    again in a fresh process, which resumes recording (EX_TEMPFAIL)."""

    exit_code = 75
    label = "fault"


class PowerOffRequired(RunInterrupted):
    """The battery reached its critical level: the device must power off now."""

    exit_code = 4
    label = "battery"


class ProvisioningError(RecorderError):
    """An enrolment request or a bundle refused, or a provisioning that may not happen now;
    nothing was changed."""
