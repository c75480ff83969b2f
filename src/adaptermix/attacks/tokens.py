"""Words of a text with their separators, so that swapping a word keeps everything else byte for byte.

A word is a run of letters or digits, possibly joined by an apostrophe or hyphen (like TextAttack's
`words_from_text`). `Words` is immutable: `replace` returns a new one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


def split_words(text: str) -> list[str]:
    """The words of `text`, in order."""
    return _WORD.findall(text)


@dataclass(frozen=True)
class Words:
    """A text as words and the separators around them: text = gaps[0] w0 gaps[1] w1 ... gaps[n]."""

    words: tuple[str, ...]
    gaps: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> Words:
        words, gaps, end = [], [], 0
        for m in _WORD.finditer(text):
            gaps.append(text[end : m.start()])
            words.append(m.group())
            end = m.end()
        gaps.append(text[end:])
        return cls(tuple(words), tuple(gaps))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def text(self) -> str:
        return "".join(g + w for g, w in zip(self.gaps, (*self.words, ""), strict=True))

    def starts(self) -> list[int]:
        """The character offset of each word in `text`."""
        out, at = [], 0
        for gap, word in zip(self.gaps, self.words, strict=False):
            at += len(gap)
            out.append(at)
            at += len(word)
        return out

    def replace(self, index: int, word: str) -> Words:
        """A copy with word `index` replaced (the separators stay)."""
        return Words(self.words[:index] + (word,) + self.words[index + 1 :], self.gaps)

    def delete(self, index: int) -> str:
        """The text without word `index` and one separator next to it (leave-one-out importance)."""
        drop = index + 1 if index < len(self.words) - 1 else index  # keep a trailing "." of the text
        gaps = self.gaps[:drop] + self.gaps[drop + 1 :]
        return Words(self.words[:index] + self.words[index + 1 :], gaps).text

    def window(self, index: int, size: int) -> str:
        """The `size` words around `index`, joined by spaces (TextAttack's `text_window_around_index`)."""
        half = (size - 1) / 2
        n = len(self.words)
        if index - half < 0:
            start, end = 0, min(size - 1, n - 1)
        elif index + half >= n:
            start, end = max(0, n - size), n - 1
        else:
            start, end = index - math.ceil(half), index + math.floor(half)
        return " ".join(self.words[start : end + 1])


def match_case(replacement: str, original: str) -> str:
    """`replacement` cased like `original` (UPPER, Title or lower), as TextAttack's `recover_word_case`."""
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement
