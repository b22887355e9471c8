"""RACER speculative decoding, one step at a time (see README.md)."""
from .errors import UserError

__all__ = ["UserError"]
