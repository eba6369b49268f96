"""Turn a :class:`~streamml.evaluate.fraud.ReplayLog` into the figures a report shows.

Three views: the handbook's test week with its exclusions (and the stricter variant that
drops customers whose fraud was already known when the transaction was scored), the same
metrics for every week of the stream (so one week's luck does not decide), and plain
prequential metrics over every labelled transaction. Cost figures come last.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from streamml.evaluate.fraud import ReplayLog, peak_memory_mib
from streamml.evaluate.metrics import average_precision, card_precision_at_k, roc_auc
from streamml.evaluate.protocol import HandbookSplit, day_number, day_of

TOP_K = 100
WEEKLY_FROM = date(2018, 5, 1)
"""April is the simulator's warm-up month (fewer frauds); weekly figures start in May."""
_EPOCH = date(1970, 1, 1)

Columns = dict[str, npt.NDArray[Any]]


def _number(value: float, digits: int = 4) -> float | None:
    """JSON-friendly: rounded, ``None`` for an undefined metric."""
    return None if math.isnan(value) else round(value, digits)


def ranking_metrics(cols: Columns, rows: npt.NDArray[np.bool_], k: int = TOP_K) -> dict[str, Any]:
    """Count, frauds, AUC ROC, average precision and card precision@k of ``rows``.

    Rows without a label are left out.
    """
    rows = rows & (cols["fraud"] >= 0)
    y = cols["fraud"][rows]
    score = cols["score"][rows]
    days = day_of(cols["seconds"][rows])
    card = card_precision_at_k(days, cols["customer"][rows], score, y, k)
    return {
        "n": int(rows.sum()),
        "frauds": int(y.sum()),
        "auc_roc": _number(roc_auc(y, score)),
        "average_precision": _number(average_precision(y, score)),
        f"card_precision_at_{k}": _number(card.mean),
        "card_precision_per_day": card.per_day,
        "compromised_cards_per_day": card.compromised_cards,
    }


def handbook_test_week(cols: Columns, split: HandbookSplit) -> dict[str, Any]:
    """The handbook's figures for ``split``'s test period, after its exclusions."""
    days = day_of(cols["seconds"])
    keep = split.test_mask(days, cols["customer"], cols["fraud"] == 1)
    result = {"week_start": split.test_start.isoformat()}
    result.update(ranking_metrics(cols, keep))
    return result


def known_at_scoring_week(cols: Columns, split: HandbookSplit) -> dict[str, Any]:
    """The test period without customers whose fraud label had arrived at scoring time."""
    days = day_of(cols["seconds"])
    keep = split.test_days_mask(days) & ~cols["known_fraud"]
    result = {"week_start": split.test_start.isoformat()}
    result.update(ranking_metrics(cols, keep))
    return result


def weekly(cols: Columns, anchor: date, start: date = WEEKLY_FROM) -> list[dict[str, Any]]:
    """The handbook's figures for each complete week of the stream from ``start`` on.

    Weeks are aligned with ``anchor`` (the test week's first day), so the test week is
    one of them; each uses the handbook's exclusions relative to itself.
    """
    if len(cols["seconds"]) == 0:
        return []
    days = day_of(cols["seconds"])
    first = max(start, _EPOCH + timedelta(days=int(days.min())))
    last_end = _EPOCH + timedelta(days=int(days.max()) + 1)  # the day after the last one
    week = anchor + timedelta(days=7 * math.ceil((first - anchor).days / 7))
    weeks = []
    while week + timedelta(days=7) <= last_end:
        entry = handbook_test_week(cols, HandbookSplit.for_test_week(week))
        weeks.append({k: v for k, v in entry.items() if not k.endswith("per_day")})
        week += timedelta(days=7)
    return weeks


def summary(weeks: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst of each metric over the weeks where it is defined."""
    out: dict[str, Any] = {"weeks": len(weeks)}
    for key in ("auc_roc", "average_precision", f"card_precision_at_{TOP_K}"):
        values = [w[key] for w in weeks if w[key] is not None]
        out[key] = {
            "mean": _number(float(np.mean(values))) if values else None,
            "min": min(values) if values else None,
        }
    return out


def prequential(cols: Columns) -> dict[str, Any]:
    """AUC ROC and average precision of every labelled transaction's score."""
    labelled = cols["fraud"] >= 0
    y, score = cols["fraud"][labelled], cols["score"][labelled]
    return {
        "n": int(labelled.sum()),
        "positives": int(y.sum()),
        "auc_roc": _number(roc_auc(y, score)),
        "average_precision": _number(average_precision(y, score)),
    }


def cost(log: ReplayLog) -> dict[str, Any]:
    """Time, throughput and memory of the replay."""
    n = len(log)
    total = log.seconds_total
    return {
        "transactions": n,
        "other_events": log.other_events,
        "labels": log.labels,
        "learned": log.learned,
        "unmatched_labels": log.unmatched_labels,
        "seconds": round(total, 2),
        "events_per_second": round((n + log.other_events) / total, 1) if total else None,
        "records_per_second": (
            round((n + log.other_events + log.labels) / total, 1) if total else None
        ),
        "model_us_per_event": round(1e6 * log.seconds_model / n, 2) if n else None,
        "features_us_per_event": round(1e6 * log.seconds_features / n, 2) if n else None,
        "peak_memory_mib": round(peak_memory_mib(), 1),
    }


def handbook_report(
    log: ReplayLog,
    split: HandbookSplit | None = None,
    weekly_from: date = WEEKLY_FROM,
    *,
    test_week_only: bool = False,
) -> dict[str, Any]:
    """Everything ``streamml evaluate fraud --data`` reports, as one JSON-ready dict;
    ``--generator`` reports the same for its own test week and weeks. With
    ``test_week_only`` (only the test week was scored), the weekly and prequential
    figures are left out."""
    split = split or HandbookSplit()
    cols = log.arrays()
    weeks = [] if test_week_only else weekly(cols, split.test_start, weekly_from)
    report: dict[str, Any] = {
        "protocol": {
            "train_start": split.train_start.isoformat(),
            "test_start": split.test_start.isoformat(),
            "test_end_exclusive": split.test_end.isoformat(),
            "test_first_day_number": day_number(split.test_start),
        },
        "test_week": handbook_test_week(cols, split),
        "test_week_known_at_scoring": known_at_scoring_week(cols, split),
    }
    if not test_week_only:
        report |= {
            "weekly": weeks,
            "weekly_summary": summary(weeks),
            "prequential": prequential(cols),
        }
    report.update(cost(log))
    return report


def prequential_report(log: ReplayLog) -> dict[str, Any]:
    """Everything ``streamml evaluate fraud --csv`` reports."""
    report: dict[str, Any] = {"prequential": prequential(log.arrays())}
    report.update(cost(log))
    return report
