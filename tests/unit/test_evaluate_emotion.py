"""The emotion evaluation: what is learned, what is held out, and the report."""

from __future__ import annotations

import csv
import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sklearn.metrics import f1_score

from streamml.cli import main
from streamml.evaluate.emotion import classification_figures, evaluate_emotion, load_corpus

EMOTION6 = ("sadness", "joy", "love", "anger", "fear", "surprise")
CROWDFLOWER = ("neutral", "worry", "happiness", "sadness")
FILLER = ["i", "feel", "the", "day", "was", "so", "very", "much", "a", "bit", "like", "that"]


def texts(labels: tuple[str, ...], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` texts whose label shows as a keyword among common words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice(labels)
        words = [*rng.sample(FILLER, 5), f"{label}word", rng.choice(FILLER)]
        out.append((" ".join(words), label))
    return out


def write_emotion6(directory: Path, sizes: tuple[int, int, int] = (120, 30, 30)) -> None:
    for seed, (split, n) in enumerate(zip(("train", "val", "test"), sizes, strict=True)):
        lines = [f"{text};{label}\n" for text, label in texts(EMOTION6, n, seed)]
        (directory / f"emotion6_nlp_{split}.txt").write_text("".join(lines), encoding="utf-8")


def write_crowdflower(directory: Path, n: int = 50) -> list[int]:
    """The CSV with its tweet ids in shuffled file order; returns the ids in file order."""
    ids = [1_000 + 7 * i for i in range(n)]
    random.Random(1).shuffle(ids)
    with (directory / "crowdflower_text_emotion.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tweet_id", "sentiment", "author", "content"])
        for tweet_id, (text, label) in zip(ids, texts(CROWDFLOWER, n, 9), strict=True):
            writer.writerow([tweet_id, label, f"user{tweet_id}", text])
    return ids


class Recorder:
    """A River-protocol stub: logs every call, predicts the last label it learned."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.last: str | None = None

    def predict_proba_one(self, text: str) -> dict[str, float]:
        self.calls.append(("predict", text))
        return {} if self.last is None else {self.last: 1.0}

    def learn_one(self, text: str, label: str) -> None:
        self.calls.append(("learn", text))
        self.last = label


def test_the_stream_is_predicted_then_learned_and_the_test_only_predicted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_emotion6(tmp_path)
    corpus = load_corpus("emotion6", tmp_path)
    model = Recorder()
    with caplog.at_level(logging.INFO, logger="streamml.evaluate.emotion"):
        report = evaluate_emotion(corpus, lambda: model, every=50)
    stream = [t.text for t in corpus.stream]
    test = [t.text for t in corpus.test]
    expected = [(kind, text) for text in stream for kind in ("predict", "learn")]
    assert model.calls == expected + [("predict", text) for text in test]
    assert report["learned"] == report["counts"]["stream"] == 150
    assert report["counts"] == {"stream": 150, "test": 30, "baseline_train": 120}
    assert report["prequential"]["n"] == 150
    assert sum("texts learned" in r.getMessage() for r in caplog.records) == 3


def test_crowdflower_holds_out_the_last_fifth_by_tweet_id(tmp_path: Path) -> None:
    ids = write_crowdflower(tmp_path)
    corpus = load_corpus("crowdflower", tmp_path)
    ordered = [f"crowdflower-{i}" for i in sorted(ids)]
    assert [t.event_id for t in corpus.test] == ordered[40:]
    assert [t.event_id for t in corpus.stream] == ordered[:40]
    assert corpus.baseline_train == corpus.stream
    model = Recorder()
    evaluate_emotion(corpus, lambda: model)
    learned = {text for kind, text in model.calls if kind == "learn"}
    assert learned == {t.text for t in corpus.stream}
    assert learned.isdisjoint(t.text for t in corpus.test)


@pytest.mark.parametrize("dataset", ["emotion6", "crowdflower"])
def test_the_command_reports_online_and_baseline_figures(tmp_path: Path, dataset: str) -> None:
    write_emotion6(tmp_path)
    write_crowdflower(tmp_path)
    out = tmp_path / "report.json"
    args = ["evaluate", "emotion", "--dataset", dataset, "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ratio macro_f1" in result.output
    report = json.loads(out.read_text())
    assert report["dataset"] == dataset
    test, baseline = report["test"], report["baseline"]
    for figures in (test, baseline, report["prequential"]):
        assert 0 <= figures["accuracy"] <= 1
    for figures in (test, baseline):
        assert 0 <= figures["macro_f1"] <= 1
        assert figures["n"] == report["counts"]["test"]
        assert sum(c["support"] for c in figures["per_class"].values()) == figures["n"]
        rows = figures["confusion"]["counts"]
        assert [sum(r) for r in rows] == [
            figures["per_class"][c]["support"] for c in figures["per_class"]
        ]
    # The keyword makes the label obvious: both models must find it.
    assert test["accuracy"] > 0.5 and baseline["accuracy"] > 0.5
    assert report["ratio_macro_f1"] == pytest.approx(
        test["macro_f1"] / baseline["macro_f1"], abs=1e-4
    )
    assert report["texts_per_second"] > 0 and report["peak_memory_mib"] > 0
    assert report["learned"] == report["counts"]["stream"]
    assert baseline["fit_seconds"] >= 0 and baseline["predict_texts_per_second"] > 0


def test_the_data_directory_defaults_to_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_crowdflower(tmp_path)
    monkeypatch.setenv("STREAMML_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["evaluate", "emotion", "--dataset", "crowdflower"])
    assert result.exit_code == 0, result.output
    assert "crowdflower test: n=10" in result.output


@pytest.mark.parametrize(
    ("dataset", "missing"),
    [("emotion6", "emotion6_nlp_test.txt"), ("crowdflower", "crowdflower_text_emotion.csv")],
)
def test_a_missing_file_is_named(tmp_path: Path, dataset: str, missing: str) -> None:
    write_emotion6(tmp_path)
    write_crowdflower(tmp_path)
    (tmp_path / missing).unlink()
    args = ["evaluate", "emotion", "--dataset", dataset, "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"dataset file not found: {tmp_path / missing}" in result.output
    assert "STREAMML_DATA_DIR" in result.output


def test_macro_f1_averages_the_classes_of_the_truth_only() -> None:
    truth = ["joy", "joy", "sadness", "fear", "fear"]
    predicted = ["joy", "love", "sadness", "joy", "<none>"]
    figures: dict[str, Any] = classification_figures(truth, predicted)
    labels = ["fear", "joy", "sadness"]
    expected = f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)
    assert figures["macro_f1"] == pytest.approx(expected, abs=1e-4)
    assert list(figures["per_class"]) == labels
    assert figures["accuracy"] == 0.4
    assert figures["confusion"]["truth"] == labels
    assert figures["confusion"]["predicted"] == [*labels, "<none>", "love"]
    assert figures["confusion"]["counts"] == [[0, 1, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 0, 0]]
