"""onestop-edge: what every component shares (the wire contract, settings, the command line)."""

__version__ = "0.1.0"
