"""Character vocabularies: the map between characters and the indices the models see.

Public (:class:`Vocab`, re-exported as ``fastrnn.Vocab``). Used by
:class:`fastrnn.charmodel.CharModel` and the checkpoints.

The order is stable: characters are sorted by code point, so the same text always
gives the same indices (the course's ``sorted(set(text))``, where ``"\\n"`` is index 0
for lower-case text). The newline is always part of a vocabulary: it ends every
example in line mode (the course's end-of-name token).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ._validation import index_array

NEWLINE = "\n"


def _show(chars: Iterable[str], most: int = 8) -> str:
    """``'x', '\\t', 'é'`` for error messages (repr of each character, sorted; the first
    ``most`` of them and how many more)."""
    chars = sorted(set(chars))
    shown = ", ".join(repr(c) for c in chars[:most])
    return shown + (f" and {len(chars) - most} more" if len(chars) > most else "")


class Vocab:
    """A character vocabulary with stable indices.

    Parameters
    ----------
    chars : iterable of str
        The characters (each a string of length 1). Duplicates are ignored; the
        indices follow the sorted order of the characters. ``"\\n"`` is added when
        missing.

    Attributes
    ----------
    chars : tuple of str
        The characters in index order.
    char_to_ix : dict of str -> int
        The course's ``char_to_ix``.
    ix_to_char : dict of int -> str
        The course's ``ix_to_char``.

    Examples
    --------
    >>> from fastrnn import Vocab
    >>> v = Vocab.from_text("abc\\nba\\n")
    >>> v.chars
    ('\\n', 'a', 'b', 'c')
    >>> v.encode("cab").tolist()
    [3, 1, 2]
    >>> v.decode([2, 1])
    'ba'
    """

    def __init__(self, chars: Iterable[str]):
        if isinstance(chars, str):
            chars = list(chars)
        elif isinstance(chars, bytes) or not isinstance(chars, Iterable):
            raise TypeError(f"chars must be an iterable of characters, got "
                            f"{type(chars).__name__}")
        seen = set()
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise TypeError(f"chars must hold strings of length 1, got {c!r}")
            seen.add(c)
        seen.add(NEWLINE)
        self.chars: tuple[str, ...] = tuple(sorted(seen))
        self.char_to_ix: dict[str, int] = {c: i for i, c in enumerate(self.chars)}
        self.ix_to_char: dict[int, str] = dict(enumerate(self.chars))
        self._lookup: np.ndarray | None = None

    # ------------------------------------------------------------ construction
    @classmethod
    def from_text(cls, text: str | Sequence[str]) -> Vocab:
        """The vocabulary of every character in ``text`` (a string or a list of lines).

        Raises
        ------
        TypeError
            ``text`` is not a string or a sequence of strings.
        ValueError
            ``text`` is empty.
        """
        if isinstance(text, str):
            body = text
        elif isinstance(text, (list, tuple)) and all(isinstance(s, str) for s in text):
            body = NEWLINE.join(text)
        else:
            raise TypeError(f"text must be a str or a list of str, got {type(text).__name__}")
        if not body.strip("\n"):
            raise ValueError("text is empty: a vocabulary needs at least one character")
        return cls(set(body))

    def to_array(self) -> np.ndarray:
        """The code points ``(V,)`` int32, in index order (how checkpoints store it)."""
        return np.array([ord(c) for c in self.chars], dtype=np.int32)

    @classmethod
    def from_array(cls, codes) -> Vocab:
        """Inverse of :meth:`to_array` (checks the order is the stable one)."""
        arr = np.asarray(codes)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError("a stored vocabulary must be a non-empty 1-D integer array")
        if arr.min() < 0 or arr.max() > 0x10FFFF:
            raise ValueError("a stored vocabulary holds invalid code points")
        chars = [chr(int(c)) for c in arr]
        v = cls(chars)
        if list(v.chars) != chars:
            raise ValueError("a stored vocabulary is not in sorted order or lacks '\\n'")
        return v

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.chars)

    @property
    def size(self) -> int:
        """V, the number of characters."""
        return len(self.chars)

    @property
    def newline(self) -> int:
        """The index of ``"\\n"`` (end of an example in line mode)."""
        return self.char_to_ix[NEWLINE]

    def __contains__(self, c) -> bool:
        return c in self.char_to_ix

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        shown = "".join(self.chars[:40]).replace("\n", "\\n")
        more = "..." if len(self.chars) > 40 else ""
        return f"Vocab({len(self)} chars: {shown!r}{more})"

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` that are not in the vocabulary (sorted, unique)."""
        return sorted(set(text) - set(self.char_to_ix))

    def check(self, text: str, name: str = "text") -> None:
        """Raise ``ValueError`` naming the characters of ``text`` outside the vocabulary.

        The message names at most 8 of them (and says how many more) and shows the
        vocabulary's size and its first 40 characters.
        """
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        bad = self.unknown(text)
        if bad:
            raise ValueError(
                f"{name} has {len(bad)} character(s) not in the model's vocabulary: "
                f"{_show(bad)} (the vocabulary: {self!r})")

    def encode(self, text: str, name: str = "text") -> np.ndarray:
        """Indices ``(len(text),)`` int64 of the characters of ``text``.

        Raises
        ------
        ValueError
            ``text`` holds characters outside the vocabulary (all are named).
        """
        self.check(text, name)
        if not text:
            return np.empty(0, np.int64)
        if self._lookup is None:
            top = max(ord(c) for c in self.chars) + 1
            lookup = np.full(top, -1, np.int64)
            for i, c in enumerate(self.chars):
                lookup[ord(c)] = i
            self._lookup = lookup
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return self._lookup[codes]

    def decode(self, ixs) -> str:
        """The string of the indices ``ixs`` (ValueError for an index out of range)."""
        try:
            arr = np.asarray(ixs)
        except (ValueError, OverflowError) as exc:           # ragged nesting
            raise ValueError(f"ixs must be a flat sequence of indices ({exc})") from None
        if arr.size == 0:
            return ""
        arr = index_array(arr.ravel(), "ixs", len(self.chars), low=0)
        return "".join(self.chars[i] for i in arr.tolist())
