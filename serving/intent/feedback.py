"""Reading a sentence of feedback: which phrases it talks about, and with which polarity.

The method is small and explicit (no classifier): the sentence is cut into **clauses** at cue
words, and each clause's phrase is later matched to the nearest attributes by their text vectors
(:mod:`.matching`).

1. **Cues** (English, case-insensitive, whole words, the longest first):

   - *avoid*: less, fewer, no, not, no more, without, stop, stop playing, avoid, hate, dislike,
     don't like, do not like, don't want, do not want, not into, tired of, sick of, enough (of),
     skip, remove, never, minus, too much;
   - *prefer*: more, like, love, want, prefer, enjoy, add, give me, some, play, plus, into, yes,
     please;
   - *reset* (forget what was said before about the phrase): forget, reset, undo, neutral,
     don't mind, do not mind, whatever, clear.

   A run of cues with nothing between them counts as one: it is *reset* if it holds a reset cue,
   else *avoid* when it holds an odd number of avoid cues ("don't want" = avoid, "not less" =
   prefer), else *prefer*.
2. **Clauses**: a cue applies to the words after it, up to the next cue or punctuation
   (``, ; . ! ?``). A cue with no words after it applies to the words before it that no cue
   claimed ("metal is too much", "synthpop please"). Words with no cue at all are an
   affirmation (*prefer*): "80s synth" means more of it.
3. **Phrases**: filler words at either end (I, the, a, some, bit, lot, music, songs, please, …)
   are dropped. A phrase in quotes (``'no wave'``, ``"drum and bass"``) is taken literally: no
   cue is read inside it.
4. **Lists**: a phrase that is not exactly an attribute's name is also split at the words "and",
   "or", "&", "/" and "+" (``less metal and punk`` → avoid metal, avoid punk); "drum and bass", a
   tag, stays whole (the caller decides, since it knows the names: :func:`split_list`).

A sentence with letters but none of them Latin and no cue (``меньше металла``) cannot be read by
this method and is refused with an :class:`~kgrec.errors.InputError` that says so; quoting a
name in any script after an English cue works (``more 'ロック'``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from kgrec.errors import InputError

Polarity = Literal["prefer", "avoid", "reset"]

AVOID_CUES = ("less", "fewer", "no", "not", "no more", "without", "stop", "stop playing", "avoid", "hate",
              "dislike", "don't like", "do not like", "don't want", "do not want", "not into", "tired of",
              "sick of", "enough", "enough of", "skip", "remove", "never", "minus", "too much")
PREFER_CUES = ("more", "like", "love", "want", "prefer", "enjoy", "add", "give me", "some", "play", "plus",
               "into", "yes", "please")
RESET_CUES = ("forget", "reset", "undo", "neutral", "don't mind", "do not mind", "whatever", "clear")
FILLERS = frozenset((
    "i", "i'm", "im", "me", "my", "we", "us", "our", "you", "please", "the", "a", "an", "some", "any", "of", "for",
    "to", "bit", "little", "lot", "lots", "much", "many", "very", "really", "just", "so", "too", "quite", "anymore",
    "now", "today", "tonight", "right", "thanks", "thank", "music", "songs", "song", "tracks", "track", "stuff",
    "artists", "artist", "bands", "band", "movies", "movie", "films", "film", "things", "is", "are", "was", "it",
    "it's", "that", "this", "these", "those", "and", "or", "but", "also", "then", "with", "kind", "sort", "maybe",
    "would", "i'd", "be", "great", "good", "nice", "ok", "okay", "all", "at", "on", "in", "do", "does", "have",
    "has", "get", "let's", "lets", "can", "could", "should",
))
_CUES: dict[str, Polarity] = {**{c: "avoid" for c in AVOID_CUES}, **{c: "prefer" for c in PREFER_CUES},
                              **{c: "reset" for c in RESET_CUES}}
_MAX_CUE_WORDS = max(len(c.split()) for c in _CUES)
_TOKEN = re.compile(r"'[^']+'|\"[^\"]+\"|“[^”]+”|‘[^’]+’|[^\s,;.!?]+|[,;.!?]")
_LIST_SPLIT = re.compile(r"\s+(?:and|or|&|/|\+)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    """One thing a sentence of feedback says: a phrase, its polarity, and the cue that set it.

    Args:
        phrase: the words to match to attributes (fillers removed; quotes removed).
        polarity: ``prefer``, ``avoid`` or ``reset``.
        cue: the cue words ("" for an affirmation without a cue).
        quoted: the phrase was quoted (taken literally).
    """

    phrase: str
    polarity: Polarity
    cue: str = ""
    quoted: bool = False


def normalise_text(text: object, *, what: str, max_chars: int) -> str:
    """``text`` NFC-normalised, invisible format characters removed, blanks collapsed; an
    :class:`InputError` when it is not a string, is empty, is longer than ``max_chars`` or holds a
    control character."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise InputError(f"{what} is {len(text):,} characters long; at most {max_chars:,} are read "
                         f"(start: {text[:40]!r})")
    clean = "".join(ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch) != "Cf")
    bad = next((ch for ch in clean if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"), None)
    if bad is not None:
        raise InputError(f"{what} holds the control character U+{ord(bad):04X}")
    clean = " ".join(clean.split())
    if not clean or not any(ch.isalnum() for ch in clean):
        raise InputError(f"{what} is empty (no letters or digits): {text[:40]!r}")
    return clean


def scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` (``LATIN``, ``CYRILLIC``, ``CJK``, …)."""
    out = set()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            out.add(name.split(" ")[0] if name else "UNKNOWN")
    return out


def _quoted(token: str) -> str | None:
    if len(token) >= 2 and token[0] in "'\"“‘" and token[-1] in "'\"”’":
        return token[1:-1].strip()
    return None


def _strip_fillers(words: list[str]) -> list[str]:
    while words and words[0].casefold() in FILLERS:
        words = words[1:]
    while words and words[-1].casefold() in FILLERS:
        words = words[:-1]
    return words


def _run_polarity(cues: list[Polarity]) -> Polarity:
    if "reset" in cues:
        return "reset"
    return "avoid" if cues.count("avoid") % 2 else "prefer"


def parse_feedback(text: str, *, max_chars: int = 1000) -> list[Clause]:
    """The clauses of a sentence of feedback (see the module docs), in the sentence's order.

    Raises:
        InputError: empty or too long text, a control character, a sentence in a script this
            method cannot read, or a sentence that names nothing ("less please").
    """
    text = normalise_text(text, what="feedback", max_chars=max_chars)
    tokens = _TOKEN.findall(text.replace("’", "'"))
    # (kind, value): ("cue", polarity, words) | ("word", str) | ("quote", str) | ("stop", "")
    items: list[tuple[str, str, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        q = _quoted(tok)
        if q is not None:
            items.append(("quote", q, ""))
            i += 1
            continue
        if tok in ",;.!?":
            items.append(("stop", "", ""))
            i += 1
            continue
        for n in range(min(_MAX_CUE_WORDS, len(tokens) - i), 0, -1):
            words = " ".join(tokens[i:i + n]).casefold()
            if words in _CUES:
                items.append(("cue", _CUES[words], words))
                i += n
                break
        else:
            items.append(("word", tok, ""))
            i += 1
    clauses: list[Clause] = []
    pending: list[str] = []  # words no cue has claimed yet
    current: tuple[Polarity, str] | None = None  # the polarity of the open clause and its cue words
    words: list[str] = []
    run: list[Polarity] = []
    run_words: list[str] = []
    saw_cue = False

    def close() -> None:
        nonlocal words, current, pending
        if current is not None:
            phrase = _strip_fillers(words)
            if phrase:
                clauses.append(Clause(" ".join(phrase), current[0], current[1]))
            elif _strip_fillers(pending):  # a cue with nothing after it: the words before it
                clauses.append(Clause(" ".join(_strip_fillers(pending)), current[0], current[1]))
                pending = []
        current, words = None, []

    def flush_pending() -> None:
        nonlocal pending
        phrase = _strip_fillers(pending)
        if phrase:
            clauses.append(Clause(" ".join(phrase), "prefer", ""))
        pending = []

    for kind, value, cue_words in items + [("stop", "", "")]:
        if kind == "cue":
            saw_cue = True
            if current is not None and not _strip_fillers(words):
                # cues in a row: one run (the words between were fillers)
                run.append(value)  # type: ignore[arg-type]
                run_words.append(cue_words)
                current = (_run_polarity(run), " ".join(run_words))
                continue
            close()
            run, run_words = [value], [cue_words]  # type: ignore[list-item]
            current = (value, cue_words)  # type: ignore[assignment]
            continue
        if kind == "quote":
            if current is None:
                flush_pending()
                clauses.append(Clause(value, "prefer", "", quoted=True))
            else:
                clauses.append(Clause(value, current[0], current[1], quoted=True))
                words = []
                current = None
            continue
        if kind == "stop":
            if current is None:
                flush_pending()
            else:
                close()
                flush_pending()
            continue
        if current is None:
            pending.append(value)
        else:
            words.append(value)
    if not saw_cue and any(s != "LATIN" for s in scripts(text)) and "LATIN" not in scripts(text):
        raise InputError(f"feedback {text[:60]!r} is in {', '.join(sorted(scripts(text)))} script; text feedback is "
                         "read with English cue words (less, no, not, without, stop; more, like, love): write it in "
                         "English, or quote an attribute's name after a cue (more 'name')")
    clauses = [c for c in clauses if c.phrase]
    if not clauses:
        raise InputError(f"feedback {text[:60]!r} names nothing to prefer or avoid (a cue needs words: "
                         "'less metal', 'more 80s synth')")
    return clauses


def split_list(phrase: str) -> list[str]:
    """A phrase cut at the words "and", "or", "&", "/" and "+" into its parts (fillers removed)."""
    parts = [" ".join(_strip_fillers(p.split())) for p in _LIST_SPLIT.split(phrase)]
    return [p for p in parts if p]


__all__ = ["AVOID_CUES", "FILLERS", "PREFER_CUES", "RESET_CUES", "Clause", "Polarity", "normalise_text",
           "parse_feedback", "scripts", "split_list"]
