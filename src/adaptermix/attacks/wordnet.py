"""A small reader of WordNet 3.0 `data.*` files: parts of speech, synonyms and antonyms per word.

We need three facts for TextFooler (Jin et al. 2020) and for counter-fitting (Mrkšić et al. 2016):
which parts of speech a word can take (a stand-in for a POS tagger, which no package ships offline),
which word pairs share a synset (synonyms), and which are antonyms. Reading the data files directly
takes a second and avoids depending on NLTK's reader (which also wants `*.exc` files that the
offline copy lacks).

Data line format (wndb(5)): ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt
[ptr_symbol offset pos source/target ...] [frames] | gloss``; `w_cnt` is 2 hex digits, `lex_id` 1 hex
digit, `p_cnt` 3 decimal digits, and `source/target` 4 hex digits (two word numbers; 0000 means the
pointer relates whole synsets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from adaptermix.errors import DataError

POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
# Morphy's detachment rules (WordNet's morph(7)); the exception lists are absent offline, so
# irregular forms ("went", "mice") get no part of speech and are never swapped.
_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}
_MARKER = re.compile(r"\((a|p|ip)\)$")


@dataclass(frozen=True)
class WordNet:
    """Single-word lemmas of WordNet with their parts of speech, synonym and antonym pairs.

    Attributes:
        pos: lower-cased lemma -> the letters of its parts of speech among n, v, a, r (satellite
            adjectives count as a).
        synonyms: unordered pairs (a < b) of lemmas that share at least one synset.
        antonyms: unordered pairs (a < b) linked by an antonym pointer, directly or (for satellite
            adjectives) through the head adjective they are similar to.
    """

    pos: Mapping[str, str]
    synonyms: frozenset[tuple[str, str]]
    antonyms: frozenset[tuple[str, str]]

    def pos_of(self, word: str) -> frozenset[str]:
        """Parts of speech `word` can take: its own, plus those of its Morphy base forms."""
        word = word.lower()
        out = set(self.pos.get(word, ""))
        for p, rules in _SUFFIXES.items():
            if p in out:
                continue
            for suffix, repl in rules:
                if word.endswith(suffix) and len(word) > len(suffix):
                    base = word[: len(word) - len(suffix)] + repl
                    if p in self.pos.get(base, ""):
                        out.add(p)
                        break
        return frozenset(out)

    @cached_property
    def antonym_map(self) -> dict[str, set[str]]:
        """word -> its antonyms (both directions)."""
        return _adjacency(self.antonyms)

    @cached_property
    def synonym_map(self) -> dict[str, set[str]]:
        """word -> its synonyms (both directions)."""
        return _adjacency(self.synonyms)


def _adjacency(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a, b in pairs:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _clean(lemma: str) -> str | None:
    """The lower-cased single-word lemma, or None for multi-word expressions."""
    lemma = _MARKER.sub("", lemma).lower()
    return None if "_" in lemma or not lemma else lemma


@dataclass
class _Synset:
    pos: str  # n v a r s
    words: list[str]  # raw lemmas, in word-number order (1-based in pointers)
    pointers: list[tuple[str, str, str, int, int]]  # symbol, offset, pos, source, target


def _parse(pos_letter: str, text: str, where: str) -> dict[tuple[str, str], _Synset]:
    synsets: dict[tuple[str, str], _Synset] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("  "):  # the licence header
            continue
        fields = line.split(" | ", 1)[0].split()
        try:
            offset, ss_type = fields[0], fields[2]
            w_cnt = int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(w_cnt)]
            i = 4 + 2 * w_cnt
            p_cnt = int(fields[i])
            pointers = []
            for j in range(p_cnt):
                sym, off, pos, st = fields[i + 1 + 4 * j : i + 5 + 4 * j]
                pointers.append((sym, off, "a" if pos == "s" else pos, int(st[:2], 16), int(st[2:], 16)))
        except (IndexError, ValueError) as exc:
            raise DataError(f"{where}: line {lineno} is not a WordNet data line ({exc}); re-fetch the archive") from exc
        synsets[(pos_letter, offset)] = _Synset(ss_type, words, pointers)
    return synsets


def parse_wordnet(files: Mapping[str, str]) -> WordNet:
    """Build a `WordNet` from the text of the four data files.

    Args:
        files: "n", "v", "a", "r" -> the full text of data.noun, data.verb, data.adj, data.adv.

    Returns:
        Parts of speech of every single-word lemma, synonym pairs (same synset) and antonym pairs
        (`!` pointers, plus satellite adjectives versus the antonyms of their head, WordNet's
        "indirect antonyms").

    Raises:
        DataError: a missing file or a malformed line.
    """
    synsets: dict[tuple[str, str], _Synset] = {}
    for p in POS_FILES:
        if p not in files:
            raise DataError(f"WordNet {POS_FILES[p]} is missing; re-fetch the archive")
        synsets.update(_parse(p, files[p], POS_FILES[p]))
    pos: dict[str, set[str]] = {}
    synonyms: set[tuple[str, str]] = set()
    antonyms: set[tuple[str, str]] = set()
    direct: dict[str, set[str]] = {}
    for (p, _), syn in synsets.items():
        lemmas = sorted({w for w in (_clean(x) for x in syn.words) if w})
        for w in lemmas:
            pos.setdefault(w, set()).add(p)
        synonyms.update(_pair(a, b) for i, a in enumerate(lemmas) for b in lemmas[i + 1 :])
        for sym, off, tpos, src, tgt in syn.pointers:
            if sym != "!" or not src or not tgt or (tpos, off) not in synsets:
                continue
            a, b = _clean(syn.words[src - 1]), _clean(synsets[(tpos, off)].words[tgt - 1])
            if a and b and a != b:
                antonyms.add(_pair(a, b))
                direct.setdefault(a, set()).add(b)
                direct.setdefault(b, set()).add(a)
    # Indirect antonyms: a satellite ("superb") is similar (&) to a head ("good") whose antonym
    # ("bad") is then the satellite's antonym too: WordNet encodes adjective opposition this way.
    for (p, _), syn in synsets.items():
        if p != "a" or syn.pos != "s":
            continue
        heads = [synsets[("a", off)] for sym, off, tpos, _, _ in syn.pointers if sym == "&" and ("a", off) in synsets]
        opposites = {o for h in heads for w in h.words if (c := _clean(w)) for o in direct.get(c, ())}
        for lemma in (_clean(x) for x in syn.words):
            if lemma:
                antonyms.update(_pair(lemma, o) for o in opposites if o != lemma)
    # A pair that is both (polysemy) is treated as antonyms: Mrkšić et al. drop such synonyms too.
    synonyms -= antonyms
    return WordNet(
        pos={w: "".join(sorted(ps)) for w, ps in pos.items()},
        synonyms=frozenset(synonyms),
        antonyms=frozenset(antonyms),
    )
