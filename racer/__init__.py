"""RACER speculative decoding, one step at a time (see README.md and docs/design.md).

Importing the package registers every drafter (``racer.drafters``, ``racer.policies``),
so the registry's lookups (``racer.registry``) answer the same whichever module was
imported first.
"""
from .errors import UserError
from . import drafters, policies  # noqa: F401,E402 (register the drafters)

__all__ = ["UserError"]
