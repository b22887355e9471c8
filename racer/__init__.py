"""RACER speculative decoding, one step at a time (see README.md and docs/design.md).

Importing the package registers every drafter (``racer.drafters``), so the registry's
lookups (``racer.registry``) answer the same whichever module was imported first.
"""
from .errors import UserError
from . import drafters  # noqa: F401,E402 (registers the drafters)

__all__ = ["UserError"]
