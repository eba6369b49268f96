"""Dataset loaders, the label timeline and the synthetic generator, on small files.

Bad rows stop a load with a ConfigurationError naming file and line: a replay of a
benchmark must be exact, so nothing is skipped silently. Only blank lines are skipped.
"""

from __future__ import annotations

import csv
import gzip
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamml.contracts import decode_record, encode_record
from streamml.datasets import SourceOptions, get_source, interleave_labels, record_time
from streamml.datasets.crowdflower import read_crowdflower
from streamml.datasets.emotion6 import read_emotion6
from streamml.datasets.fraud_handbook import COLUMNS, FILE_NAME, read_fraud_handbook
from streamml.datasets.synthetic import (
    CHANNELS,
    Scenario,
    SyntheticConfig,
    generate_payments,
    generate_synthetic,
)
from streamml.errors import ConfigurationError
from streamml.records import Label, TextEvent, Transaction
from streamml.settings import Settings

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets"
T0 = datetime(2018, 4, 1, tzinfo=UTC)

Row = Sequence[object]


def fraud_row(i: int, stamp: str, fraud: int = 0, amount: float = 10.5) -> list[object]:
    return [i, stamp, 100 + i, 200 + i, amount, 0, 0, fraud, fraud]


@pytest.fixture
def fraud_file(tmp_path: Path) -> Callable[..., Path]:
    def write(rows: list[Row], header: Sequence[str] = COLUMNS, name: str = FILE_NAME) -> Path:
        path = tmp_path / name
        with gzip.open(path, "wt", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return write


ROWS = [
    fraud_row(0, "2018-04-01 00:00:31"),
    fraud_row(1, "2018-04-01 10:00:00", fraud=1, amount=250.0),
    fraud_row(2, "2018-04-02 00:00:00"),
    fraud_row(3, "2018-04-09 00:00:00"),
]


# --- fraud handbook ---------------------------------------------------------------------


def test_fraud_rows_become_transactions_each_followed_by_its_delayed_label(
    fraud_file: Callable[..., Path],
) -> None:
    records = list(read_fraud_handbook(fraud_file(ROWS)))

    assert [type(r) for r in records[:2]] == [Transaction, Label]
    tx, label = records[2], records[3]
    assert tx == Transaction("1", T0 + timedelta(hours=10), "101", "201", 250.0, "card")
    assert label == Label(
        "1", "fraud", "1", tx.event_time + timedelta(days=7), tx.event_time, "101", "201"
    )
    assert [r.label for r in records if isinstance(r, Label)] == ["0", "1", "0", "0"]


def test_fraud_date_range_is_start_inclusive_end_exclusive_and_stops_reading(
    fraud_file: Callable[..., Path],
) -> None:
    # A bad row after the end is never parsed: the file is chronological.
    path = fraud_file([*ROWS, ["garbage"]])
    start, end = T0 + timedelta(hours=10), T0 + timedelta(days=1)

    records = list(read_fraud_handbook(path, start=start, end=end, label_delay=timedelta(0)))

    assert [r.event_id for r in records] == ["1", "1"]
    label = records[1]
    assert isinstance(label, Label) and label.label_time == label.event_time


def test_fraud_limit_counts_transactions(fraud_file: Callable[..., Path]) -> None:
    records = list(read_fraud_handbook(fraud_file(ROWS), limit=3))

    assert sum(isinstance(r, Transaction) for r in records) == 3
    assert len(records) == 6


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["1", "2018-04-01 01:00:00", "7"], r":3: bad row: expected 9 columns, got 3"),
        (fraud_row(1, "2018-04-01 01:00:00", fraud=2), r":3: bad row: TX_FRAUD '2'"),
        (fraud_row(1, "2018-04-01 01:00:00", amount=-1), r":3: bad row: TX_AMOUNT '-1"),
        (fraud_row(1, "2018-03-01 00:00:00"), r":3: bad row: TX_DATETIME .* is before"),
        (fraud_row(1, "2018-04-01 25:00:00"), r":3: bad row: hour must be"),
    ],
)
def test_fraud_bad_rows_stop_the_load_naming_the_line(
    fraud_file: Callable[..., Path], bad: Row, message: str
) -> None:
    path = fraud_file([ROWS[0], bad])

    with pytest.raises(ConfigurationError, match=message):
        list(read_fraud_handbook(path))


def test_fraud_wrong_header_is_refused(fraud_file: Callable[..., Path]) -> None:
    path = fraud_file(ROWS, header=["a", "b"])

    with pytest.raises(ConfigurationError, match=r":1: bad row: expected header"):
        list(read_fraud_handbook(path))


def test_truncated_gzip_names_the_file(tmp_path: Path, fraud_file: Callable[..., Path]) -> None:
    path = fraud_file(ROWS * 1000)
    path.write_bytes(path.read_bytes()[:200])
    source = get_source("fraud", Settings(data_dir=tmp_path))

    with pytest.raises(ConfigurationError, match="corrupt or truncated gzip"):
        list(source.records())


# --- emotion6 ---------------------------------------------------------------------------


def test_emotion6_skips_blank_lines_splits_on_last_semicolon_and_numbers_by_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "emotion6_nlp_val.txt"
    path.write_text("\ni feel ok; mostly;joy\n\ni am scared;fear\n", encoding="utf-8")
    start = datetime(2024, 5, 1, tzinfo=UTC)
    clock = (start + timedelta(seconds=i) for i in itertools.count())

    texts = list(read_emotion6(path, "val", times=clock))

    assert [(t.event_id, t.text, t.label) for t in texts] == [
        ("emotion6-val-2", "i feel ok; mostly", "joy"),
        ("emotion6-val-4", "i am scared", "fear"),
    ]
    assert [t.event_time for t in texts] == [start, start + timedelta(seconds=1)]
    assert {(t.source, t.taxonomy) for t in texts} == {("emotion6", "emotion6")}


@pytest.mark.parametrize(
    ("line", "message"),
    [("no separator", "no ';'"), ("text;happy", "label 'happy'"), (" ;joy", "blank text")],
)
def test_emotion6_malformed_line_stops_the_load(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "emotion6_nlp_train.txt"
    path.write_text(f"fine;joy\n{line}\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match=f":2: bad row: {message}"):
        list(read_emotion6(path, "train"))


# --- crowdflower ------------------------------------------------------------------------

MOJIBAKE = "Thatsï¿½meE!! Canâ€™t stop"  # double-encoded UTF-8, as in the real file


def write_crowdflower(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tweet_id", "sentiment", "author", "content"])
        writer.writerows(rows)
    return path


def test_crowdflower_in_tweet_id_order_text_kept_as_is(tmp_path: Path) -> None:
    path = write_crowdflower(
        tmp_path / "c.csv",
        [
            ["30", "worry", "bob", 'quoted, "comma"\nand newline'],
            ["2", "happiness", "", MOJIBAKE],
            ["10", "neutral", "eve", "café ☕"],
        ],
    )

    texts = list(read_crowdflower(path))

    assert [t.event_id for t in texts] == ["crowdflower-2", "crowdflower-10", "crowdflower-30"]
    assert [t.text for t in texts] == [MOJIBAKE, "café ☕", 'quoted, "comma"\nand newline']
    assert [t.author for t in texts] == [None, "eve", "bob"]
    assert {(t.taxonomy, t.source) for t in texts} == {("emotion13", "crowdflower")}
    assert texts[0].event_time < texts[1].event_time < texts[2].event_time


def test_crowdflower_rejects_invalid_utf8_and_duplicate_ids(tmp_path: Path) -> None:
    broken = tmp_path / "crowdflower_text_emotion.csv"
    broken.write_bytes(b"tweet_id,sentiment,author,content\n1,fun,a,caf\xe9\n")
    with pytest.raises(ConfigurationError, match="not valid UTF-8"):
        list(get_source("crowdflower", Settings(data_dir=tmp_path)).records())

    dupes = write_crowdflower(tmp_path / "d.csv", [["1", "fun", "a", "x"], ["1", "fun", "b", "y"]])
    with pytest.raises(ConfigurationError, match=r"d.csv:3: bad row: tweet_id '1'"):
        list(read_crowdflower(dupes))


# --- registry ---------------------------------------------------------------------------


def test_get_source_names_missing_file_and_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"{FILE_NAME}.*STREAMML_DATA_DIR"):
        get_source("fraud", Settings(data_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="unknown source 'nope'"):
        get_source("nope", Settings(data_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="unknown emotion6 split"):
        get_source("emotion6", Settings(data_dir=tmp_path), SourceOptions(split="dev"))


def test_emotion6_all_splits_in_order_with_continuing_times_limit_and_end(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        (tmp_path / f"emotion6_nlp_{split}.txt").write_text(f"a {split};joy\nb;fear\n")
    settings = Settings(data_dir=tmp_path)
    start = datetime(2024, 2, 1, tzinfo=UTC)

    every = get_source("emotion6", settings, SourceOptions(split="all", start=start))
    texts = list(every.records())
    assert [t.event_id for t in texts][::2] == [
        "emotion6-train-1",
        "emotion6-val-1",
        "emotion6-test-1",
    ]
    assert [t.event_time for t in texts] == [start + timedelta(seconds=i) for i in range(6)]
    assert every.total() == 6

    windowed = SourceOptions(split="all", start=start, end=start + timedelta(seconds=4), limit=5)
    source = get_source("emotion6", settings, windowed)
    assert len(list(source.records())) == source.total() == 4


# --- timeline ---------------------------------------------------------------------------


def test_interleave_puts_each_label_after_the_events_before_its_label_time(
    fraud_file: Callable[..., Path],
) -> None:
    records = list(read_fraud_handbook(fraud_file(ROWS), label_delay=timedelta(hours=12)))

    merged = list(interleave_labels(records))

    assert Counter(map(id, merged)) == Counter(map(id, records))
    assert [type(r).__name__[0] + r.event_id for r in merged] == [
        "T0",
        "T1",
        "L0",  # due 12:00:31, after transaction 1 at 10:00
        "L1",  # due 22:00, before transaction 2 at midnight
        "T2",
        "L2",
        "T3",
        "L3",
    ]
    times = [record_time(r) for r in merged]
    assert times == sorted(times)
    assert list(interleave_labels(merged)) == merged


def test_interleave_releases_a_label_due_with_an_event_before_that_event() -> None:
    tx = Transaction("t2", T0 + timedelta(days=7), "c", "m", 1.0)
    label = Label("t1", "fraud", "0", T0 + timedelta(days=7), T0)
    first = Transaction("t1", T0, "c", "m", 1.0)

    assert list(interleave_labels([first, label, tx])) == [first, label, tx]


# --- synthetic --------------------------------------------------------------------------


def test_synthetic_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[Transaction | Label]:
        return list(generate_synthetic(SyntheticConfig(seed=seed), limit=2000))

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_synthetic_stream_is_ordered_valid_and_has_every_fraud_scenario() -> None:
    payments = list(itertools.islice(generate_payments(SyntheticConfig(seed=11)), 50_000))
    txs = [p.transaction for p in payments]

    assert all(a.event_time <= b.event_time for a, b in itertools.pairwise(txs))
    assert [t.event_id for t in txs[:2]] == ["syn11-000000000", "syn11-000000001"]
    scenarios = Counter(p.scenario for p in payments)
    assert set(scenarios) == set(Scenario)
    assert 0.003 < 1 - scenarios[Scenario.GENUINE] / len(payments) < 0.03
    assert {t.channel for t in txs} == set(CHANNELS)
    assert all(t.session_id and t.features for t in txs)
    assert {k for t in txs for k in t.features or {}} == {
        "page_views",
        "dwell_seconds",
        "new_device",
    }
    for tx in txs[:500]:
        assert decode_record(Transaction, encode_record(tx, "avro")) == tx


def test_synthetic_labels_follow_their_transactions_and_end_stops() -> None:
    config = SyntheticConfig(seed=2, label_delay=timedelta(days=3))
    end = config.start + timedelta(hours=2)

    records = list(generate_synthetic(config, end=end))

    txs = [r for r in records if isinstance(r, Transaction)]
    labels = [r for r in records if isinstance(r, Label)]
    assert records[0::2] == txs and records[1::2] == labels
    delay = timedelta(days=3)
    assert [(lb.event_id, lb.label_time) for lb in labels] == [
        (t.event_id, t.event_time + delay) for t in txs
    ]
    assert txs and max(t.event_time for t in txs) < end


# --- the real files ---------------------------------------------------------------------

needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"real datasets not found at {REAL_DATA}"
)


@needs_real_data
def test_real_files_load_their_first_rows() -> None:
    settings = Settings(data_dir=REAL_DATA)

    fraud = list(get_source("fraud", settings, SourceOptions(limit=1000)).records())
    assert fraud[0] == Transaction(
        "0", datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC), "596", "3156", 57.16
    )
    assert len(fraud) == 2000

    val = get_source("emotion6", settings, SourceOptions(split="val"))
    texts = list(val.records())
    assert len(texts) == val.total() == 2000
    assert texts[0].event_id == "emotion6-val-2"
    assert all(isinstance(t, TextEvent) and t.label for t in texts)

    tweets = list(get_source("crowdflower", settings, SourceOptions(limit=100)).records())
    ids = [int(t.event_id.removeprefix("crowdflower-")) for t in tweets]
    assert len(ids) == 100 and ids == sorted(ids)
