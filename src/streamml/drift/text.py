"""Statistics of a text that data drift watches: length, unknown words, non-Latin script.

Unknown words are counted against a reference vocabulary, the tokens of the first
``vocabulary_texts`` texts; until it is complete a text has no statistics. Tokens are
the emotion model's own (:func:`streamml.models.text.tokenize`).
"""

from __future__ import annotations

from streamml.models.text import tokenize

TEXT_STATISTICS = ("length", "unknown_share", "non_latin_share")


def non_latin_share(text: str) -> float:
    """The share of letters outside the Latin script (0 for a text without letters).

    >>> non_latin_share("café"), non_latin_share("abcπ"), non_latin_share("123")
    (0.0, 0.25, 0.0)
    """
    letters = other = 0
    for char in text:
        if char.isalpha():
            letters += 1
            code = ord(char)
            # Basic Latin to Latin Extended-B, IPA, and Latin Extended Additional.
            if not (code < 0x2B0 or 0x1E00 <= code < 0x1F00):
                other += 1
    return other / letters if letters else 0.0


class TextStatistics:
    """Per-text statistics against a vocabulary built from the stream's first texts.

    >>> stats = TextStatistics(vocabulary_texts=2)
    >>> stats.of("i feel happy"), stats.of("i feel sad")
    (None, None)
    >>> stats.of("i feel blue today")
    {'length': 4.0, 'unknown_share': 0.5, 'non_latin_share': 0.0}
    """

    def __init__(self, vocabulary_texts: int = 2000) -> None:
        self.vocabulary_texts = vocabulary_texts
        self.vocabulary: set[str] = set()
        self.seen = 0

    @property
    def ready(self) -> bool:
        return self.seen >= self.vocabulary_texts

    def of(self, text: str) -> dict[str, float] | None:
        """The statistics of ``text``; ``None`` while it still builds the vocabulary."""
        tokens = tokenize(text)
        if not self.ready:
            self.seen += 1
            self.vocabulary.update(tokens)
            return None
        unknown = sum(token not in self.vocabulary for token in tokens)
        return {
            "length": float(len(tokens)),
            "unknown_share": unknown / len(tokens) if tokens else 0.0,
            "non_latin_share": non_latin_share(text),
        }
