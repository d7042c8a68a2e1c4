"""reviewbot: which tracked fields each function of a C patch series changes, under which lock."""

__version__ = "0.1.0"
