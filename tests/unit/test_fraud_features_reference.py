"""The online features equal the handbook's batch computation (pandas rolling windows).

The handbook computes its features over the whole table: per customer, time-based
``rolling(f"{w}d")`` on ``TX_DATETIME`` of ``TX_AMOUNT`` sum and count; per terminal,
``TX_FRAUD`` sum and count over ``d + w`` days minus the same over ``d`` days, the risk
being frauds / count and 0 for no transactions. Pandas' time-based windows are
``(t - w, t]`` and, among rows with equal times, count the earlier rows only. The online
code, fed the same rows as a stream with labels 7 days late, must agree to 1e-9.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamml.datasets import interleave_labels
from streamml.datasets.fraud_handbook import FILE_NAME
from streamml.features.fraud import HANDBOOK_FEATURES, FraudFeatureStore
from streamml.records import Label, Transaction

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / FILE_NAME
DELAY_DAYS = 7
WINDOWS = (1, 7, 30)
TOLERANCE = 1e-9


def _rolling(df: pd.DataFrame, key: str, column: str, days: int, how: str) -> pd.Series:
    """``df.groupby(key)`` then a ``days``-day rolling ``how`` of ``column``, per row.

    A grouped rolling result comes group by group, each in the table's order.
    """
    grouped = df.groupby(key, sort=True).rolling(f"{days}D", on="TX_DATETIME")[column]
    values = getattr(grouped, how)().to_numpy()
    return pd.Series(values, index=df.sort_values(key, kind="stable").index).reindex(df.index)


def handbook_features(df: pd.DataFrame) -> pd.DataFrame:
    """The handbook's fourteen features of a chronological transaction table."""
    out = pd.DataFrame(index=df.index)
    out["TX_DURING_WEEKEND"] = (df["TX_DATETIME"].dt.day_of_week >= 5).astype(float)
    out["TX_DURING_NIGHT"] = (df["TX_DATETIME"].dt.hour <= 6).astype(float)
    for w in WINDOWS:
        total = _rolling(df, "CUSTOMER_ID", "TX_AMOUNT", w, "sum")
        count = _rolling(df, "CUSTOMER_ID", "TX_AMOUNT", w, "count")
        out[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = count
        out[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = total / count
    frauds_delay = _rolling(df, "TERMINAL_ID", "TX_FRAUD", DELAY_DAYS, "sum")
    count_delay = _rolling(df, "TERMINAL_ID", "TX_FRAUD", DELAY_DAYS, "count")
    for w in WINDOWS:
        frauds = _rolling(df, "TERMINAL_ID", "TX_FRAUD", DELAY_DAYS + w, "sum") - frauds_delay
        count = _rolling(df, "TERMINAL_ID", "TX_FRAUD", DELAY_DAYS + w, "count") - count_delay
        out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = count
        out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = (frauds / count).fillna(0.0)
    return out


def records(df: pd.DataFrame) -> Iterable[Transaction | Label]:
    """The table as the loader yields it: each transaction, then its label 7 days later."""
    times = df["TX_DATETIME"].dt.tz_localize(UTC).dt.to_pydatetime()
    columns = ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")
    for when, (tx_id, customer, terminal, amount, fraud) in zip(
        times, df[list(columns)].itertuples(index=False), strict=True
    ):
        yield Transaction(str(tx_id), when, str(customer), str(terminal), float(amount))
        yield Label(str(tx_id), "fraud", str(fraud), when + timedelta(days=DELAY_DAYS), when)


def online_features(df: pd.DataFrame) -> pd.DataFrame:
    store = FraudFeatureStore()
    rows: dict[str, list[float]] = {}
    for record in interleave_labels(records(df)):
        if isinstance(record, Label):
            store.on_label(record)
        elif isinstance(record, Transaction):
            x = store.on_transaction(record)
            rows[record.event_id] = [x[name] for name in HANDBOOK_FEATURES]
    ids = df["TRANSACTION_ID"].astype(str)
    return pd.DataFrame([rows[i] for i in ids], index=df.index, columns=list(HANDBOOK_FEATURES))


def assert_same(online: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert list(online.columns) == list(batch.columns)
    assert len(online) == len(batch) > 0
    for name in batch.columns:
        np.testing.assert_allclose(
            online[name].to_numpy(), batch[name].to_numpy(), rtol=0, atol=TOLERANCE, err_msg=name
        )


@pytest.fixture(scope="module")
def handbook() -> pd.DataFrame:
    if not DATA.is_file():
        pytest.skip(f"{DATA} is absent")
    df = pd.read_csv(DATA, parse_dates=["TX_DATETIME"])
    assert df["TX_DATETIME"].is_monotonic_increasing
    return df


def test_first_two_weeks_of_the_real_file(handbook: pd.DataFrame) -> None:
    df = handbook[handbook["TX_DATETIME"] < "2018-04-15"]
    batch = handbook_features(df)
    assert_same(online_features(df), batch)
    # The sample exercises the delayed terminal windows, not only zeros.
    assert (batch["TERMINAL_ID_RISK_1DAY_WINDOW"] > 0).sum() > 20
    after_delay = df["TX_DATETIME"] >= "2018-04-09"
    assert (batch.loc[after_delay, "TERMINAL_ID_NB_TX_7DAY_WINDOW"] > 0).mean() > 0.9


def test_real_customers_and_terminals_with_equal_times(handbook: pd.DataFrame) -> None:
    customers = handbook.loc[handbook.duplicated(["CUSTOMER_ID", "TX_DATETIME"]), "CUSTOMER_ID"]
    terminals = handbook.loc[handbook.duplicated(["TERMINAL_ID", "TX_DATETIME"]), "TERMINAL_ID"]
    assert len(customers) > 0 and len(terminals) > 0
    mine = handbook["CUSTOMER_ID"].isin(customers)
    theirs = handbook["TERMINAL_ID"].isin(terminals)
    # Customer features need only the card's rows; terminal ones only the terminal's.
    df = handbook[mine | theirs]
    batch, online = handbook_features(df), online_features(df)
    customer_side = [n for n in HANDBOOK_FEATURES if not n.startswith("TERMINAL_ID")]
    terminal_side = [n for n in HANDBOOK_FEATURES if n.startswith("TERMINAL_ID")]
    assert_same(online.loc[mine[mine | theirs], customer_side], batch.loc[mine, customer_side])
    assert_same(online.loc[theirs[mine | theirs], terminal_side], batch.loc[theirs, terminal_side])


def test_synthetic_table_full_of_ties_and_exact_window_edges() -> None:
    rng = random.Random(7)
    start = pd.Timestamp("2018-04-01")
    # Whole hours over 60 days for 6 cards and 9 terminals: many equal times, and many
    # transactions exactly w or d + w days apart.
    hours = sorted(rng.randrange(60 * 24) for _ in range(3000))
    df = pd.DataFrame(
        {
            "TRANSACTION_ID": range(len(hours)),
            "TX_DATETIME": [start + pd.Timedelta(hours=h) for h in hours],
            "CUSTOMER_ID": [rng.randrange(6) for _ in hours],
            "TERMINAL_ID": [rng.randrange(9) for _ in hours],
            "TX_AMOUNT": [round(rng.uniform(0, 300), 2) for _ in hours],
            "TX_FRAUD": [int(rng.random() < 0.2) for _ in hours],
        }
    )
    assert df.duplicated(["CUSTOMER_ID", "TX_DATETIME"]).sum() > 100
    assert_same(online_features(df), handbook_features(df))
