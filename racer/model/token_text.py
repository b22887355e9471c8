"""Token ids as text a person can read, in any script.

A byte-level tokenizer (SmolLM2's, GPT-2's) cuts text into bytes, not characters: a
Hebrew letter is two bytes and may be two tokens, an emoji with a skin tone is eight
bytes over up to five tokens. Decoding each token alone turns such pieces into "�".
So text is built from each token's bytes:

- a run of tokens reads as its bytes joined (``join``);
- laid out token by token (``spans``), a character that spans tokens belongs to the
  token that completes it; the tokens before it show nothing;
- bytes that do not complete a character read as the bytes themselves (``<0xF0>``),
  for a token alone (``__call__``) as at the end of a run;
- shown as glyphs (``glyphs``), tokens are grouped so that no group splits a grapheme
  cluster (an emoji with a skin tone or zero-width joiners, a letter and its accent):
  each group's text is whole clusters, drawn as one span;
- a token read after the tokens before it (``completed``, a tree node under its
  ancestors) shows whole the characters and clusters its bytes finish.

Where the tokenizer's pieces are not byte-level (a test tokenizer that only decodes),
a token's bytes are its decoded text.

>>> spans([b"\\xd7", b"\\xa9\\xd7\\x9c", b"!"])
['', 'של', '!']
>>> alone(b"\\xf0\\x9f")
'<0xF0><0x9F>'
>>> glyphs([b"\\xf0\\x9f\\x91", b"\\x8d\\xf0\\x9f\\x8f", b"\\xbd!"])   # a thumb, a skin tone, "!"
[(0, 3, '👍🏽!')]
"""
from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Sequence

import regex  # \X: Unicode's extended grapheme clusters (the re module has none)

HEX = "racer-hex"
BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # SentencePiece's byte fallback pieces


def _as_hex(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start:error.end]
    return "".join(f"<0x{b:02X}>" for b in bad), error.end


codecs.register_error(HEX, _as_hex)


@lru_cache(maxsize=1)
def byte_of_char() -> dict[str, int]:
    """The byte-level BPE alphabet, inverted: the printable character that stands for
    each of the 256 bytes. Printable Latin-1 bytes stand for themselves; the rest
    (controls, space, soft hyphen...) are moved, in byte order, to code points from
    256 on, so that every piece is a printable string."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in kept}
    moved = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + moved)
            moved += 1
    return {c: b for b, c in chars.items()}


def alone(piece: bytes) -> str:
    """One piece read on its own: its characters, and any byte that does not make a
    whole character shown as ``<0xNN>``."""
    return piece.decode("utf-8", errors=HEX)


def join(pieces: Sequence[bytes]) -> str:
    """A run of pieces, read as their bytes joined."""
    return alone(b"".join(pieces))


def spans(pieces: Sequence[bytes]) -> list[str]:
    """Each piece's share of the run's text: a character belongs to the piece that
    completes it; bytes left incomplete at the end show as ``<0xNN>`` on their pieces."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors=HEX)
    out = [decoder.decode(piece) for piece in pieces]
    if out:
        out[-1] += decoder.decode(b"", final=True)
    return out


def cluster_ends(text: str) -> set[int]:
    """Where ``text``'s grapheme clusters end (character offsets), 0 included.

    >>> sorted(cluster_ends("a👍🏽"))
    [0, 1, 3]
    """
    return {0, *(m.end() for m in regex.finditer(r"\X", text))}


def glyphs(pieces: Sequence[bytes]) -> list[tuple[int, int, str]]:
    """A run of pieces as groups ``(first, stop, text)``: pieces ``first..stop-1`` make
    ``text``, whole grapheme clusters, so a group never splits a character or a cluster
    (a piece whose bytes complete nothing joins the next group). Every piece is in
    exactly one group, in order; the texts join to ``join(pieces)``.

    >>> glyphs([b"a", b"\\xd7", b"\\xa9", b"b"])
    [(0, 1, 'a'), (1, 3, 'ש'), (3, 4, 'b')]
    """
    texts = spans(pieces)
    ends = cluster_ends("".join(texts))
    groups, first, at = [], 0, 0
    for i, text in enumerate(texts):
        at += len(text)
        if (text and at in ends) or i == len(texts) - 1:
            groups.append((first, i + 1, "".join(texts[first:i + 1])))
            first = i + 1
    return groups


def completed(before: Sequence[bytes], piece: bytes) -> str:
    """``piece``'s text read after ``before`` (its ancestors in a tree): the bytes that
    ``before`` left incomplete are completed, and a cluster ``piece`` finishes (a skin
    tone after its emoji, an accent after its letter) is shown whole; bytes ``piece``
    leaves incomplete read as ``<0xNN>``. Whatever is whole in ``before`` stays out.

    >>> completed([b"\\xd7\\x99\\xd7"], b"\\x9c!")           # yod + a lead byte, then the lamed's end
    'ל!'
    >>> completed([b"\\xf0\\x9f\\x91\\x8d"], "🏽".encode())   # a skin tone joins its thumb
    '👍🏽'
    >>> completed([b"ab"], b"\\xd7")
    '<0xD7>'
    """
    head = b"".join(before[-8:])   # a cluster spans at most a few tokens
    text_before, own = spans([head, piece])
    text = text_before + own
    start = max(e for e in cluster_ends(text) if e <= len(text_before))
    return text[start:]


class TokenText:
    """Token ids -> readable text, for one tokenizer. Calling it gives one token's text
    alone (tree labels); ``join`` a run's text (sentences); ``spans`` a run laid out
    token by token (the coloured text)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._bytes: dict[int, bytes] = {}
        self._byte_level = _is_byte_level(tokenizer)
        self._special = set(getattr(tokenizer, "all_special_ids", ()) or ())

    def piece(self, token: int) -> bytes:
        """The bytes token ``token`` stands for."""
        token = int(token)
        if token not in self._bytes:
            self._bytes[token] = self._read(token)
        return self._bytes[token]

    def __call__(self, token: int) -> str:
        return alone(self.piece(token))

    def join(self, ids: Sequence[int]) -> str:
        return join([self.piece(t) for t in ids])

    def spans(self, ids: Sequence[int]) -> list[str]:
        return spans([self.piece(t) for t in ids])

    def glyphs(self, ids: Sequence[int]) -> list[tuple[int, int, str]]:
        return glyphs([self.piece(t) for t in ids])

    def completed(self, before: Sequence[int], token: int) -> str:
        return completed([self.piece(t) for t in before], self.piece(token))

    def _read(self, token: int) -> bytes:
        decoded = self.tokenizer.decode([token], skip_special_tokens=False)
        convert = getattr(self.tokenizer, "convert_ids_to_tokens", None)
        if token in self._special or convert is None:
            return decoded.encode("utf-8")
        name = convert(token)
        if not isinstance(name, str):
            return decoded.encode("utf-8")
        byte = BYTE_TOKEN.fullmatch(name)
        if byte:
            return bytes([int(byte.group(1), 16)])
        table = byte_of_char()
        if self._byte_level and all(c in table for c in name):
            return bytes(table[c] for c in name)
        return decoded.encode("utf-8")


class _IdsOnly:
    """A stand-in tokenizer that names each id: "<7>"."""

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return "".join(f"<{i}>" for i in ids)


@lru_cache(maxsize=1)
def without_model() -> TokenText:
    """Token text where no model loaded: each id shown as "<id>"."""
    return TokenText(_IdsOnly())


def _is_byte_level(tokenizer) -> bool:
    """Whether the tokenizer's pieces are byte-level BPE (the decoder says so)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in type(decoder).__name__ + repr(decoder)
