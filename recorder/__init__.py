"""recorder: software agent of a body-worn evidence camera."""

__version__ = "0.1.0"
