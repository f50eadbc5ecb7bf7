"""Gatekeeper: the evaluation and governance gate between training and production."""

__version__ = "0.1.0"
