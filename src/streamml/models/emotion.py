"""The emotion model: bag of words into a multinomial naive Bayes, open label set."""

from __future__ import annotations

from river import compose, feature_extraction, naive_bayes


def emotion_model() -> compose.Pipeline:
    """Unigrams and bigrams counted, classified by multinomial naive Bayes.

    A class never seen before is learned when its first example arrives.

    Examples
    --------
    >>> model = emotion_model()
    >>> model.learn_one("i feel so happy today", "joy")
    >>> model.learn_one("this is awful and sad", "sadness")
    >>> model.predict_one("happy happy day")
    'joy'
    """
    return compose.Pipeline(
        feature_extraction.BagOfWords(lowercase=True, ngram_range=(1, 2)),
        naive_bayes.MultinomialNB(alpha=0.1),
    )
