"""Fraud stages: customer features → terminal features and score → labels → examples.

The customer stage reads ``transactions`` (keyed by customer) and keeps per-customer
state; the terminal stage reads what it forwards and ``fraud-labels`` (both keyed by
terminal), keeps per-terminal state, scores, remembers the features it used per event
and turns each arriving label into a training example for the trainer. States live in
any mutable mapping: Faust tables with changelogs in the worker, dicts in tests.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime

from streamml.decode import decode
from streamml.emit import Emitter, Output
from streamml.features.fraud import (
    CustomerState,
    TerminalState,
    customer_features,
    customer_known_fraud,
    mark_customer_fraud,
    record_terminal_fraud,
    terminal_features,
)
from streamml.features.session import SessionState, is_payment, session_features
from streamml.internal import CardFraud, Enriched, Example
from streamml.learn import PendingFeatures
from streamml.process import BaseStage
from streamml.records import DeadLetter, Label, Origin, Transaction
from streamml.score import FraudScorer
from streamml.settings import Topics

States = MutableMapping[str, bytes]
KNOWN_FRAUD_FLAG = "card-known-fraud"
NOT_A_PAYMENT_FLAG = "not-a-payment"


class CustomerStage(BaseStage):
    """Decodes transactions, adds customer-window features, forwards them by terminal."""

    def __init__(
        self, emitter: Emitter, topics: Topics, customers: States, sessions: States
    ) -> None:
        super().__init__(emitter)
        self.topics = topics
        self.customers = customers
        self.sessions = sessions

    def on_transaction(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._transaction, raw, origin, key)

    def on_card_fraud(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._card_fraud, raw, origin, key)

    def _transaction(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        tx = decode(Transaction, raw, origin, key)
        if isinstance(tx, DeadLetter):
            return [self.dead(tx)]
        in_session = self._session(tx)
        state = self._state(tx.customer_id)
        flagged = customer_known_fraud(state, tx.event_time)
        payment = is_payment(tx)
        if payment:
            x = customer_features(state, tx)
            x.update(in_session)
            self.customers[tx.customer_id] = state.to_bytes()
        else:
            x = in_session
        enriched = Enriched(tx, x, flagged, payment)
        self.counts["enriched"] += 1
        return [Output(self.topics.fraud_enriched, tx.terminal_id.encode(), enriched.to_bytes())]

    def _card_fraud(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        notice = CardFraud.from_bytes(raw or b"")
        state = self._state(notice.customer_id)
        mark_customer_fraud(state, notice.label_time)
        self.customers[notice.customer_id] = state.to_bytes()
        return []

    def _state(self, customer_id: str) -> CustomerState:
        raw = self.customers.get(customer_id)
        return CustomerState.from_bytes(raw) if raw else CustomerState()

    def _session(self, tx: Transaction) -> dict[str, float]:
        raw = self.sessions.get(tx.customer_id)
        state = SessionState.from_bytes(raw) if raw else SessionState()
        x = session_features(state, tx)
        if tx.session_id is not None:
            self.sessions[tx.customer_id] = state.to_bytes()
        return x


class TerminalStage(BaseStage):
    """Adds terminal features, scores, and joins late labels with the features used.

    Every valid transaction yields exactly one prediction; a card with a known fraud is
    flagged in it. Features wait in ``pending`` (bounded by TTL and count) until their
    label arrives on the same partition (fraud labels are keyed by terminal).
    """

    def __init__(
        self,
        emitter: Emitter,
        topics: Topics,
        terminals: States,
        scorer: FraudScorer,
        pending: PendingFeatures,
    ) -> None:
        super().__init__(emitter)
        self.topics = topics
        self.terminals = terminals
        self.scorer = scorer
        self.pending = pending
        # Labels that overtook their transaction (a backlog drains topics unevenly).
        self.early = PendingFeatures(pending.ttl_seconds, pending.max_entries)

    def on_enriched(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._enriched, raw, origin, key)

    def on_label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._label, raw, origin, key)

    def _enriched(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        enriched = Enriched.from_bytes(raw or b"")
        tx = enriched.tx
        if not enriched.payment:
            # A page view or a login: one prediction, but nothing to score or to learn.
            self.counts["not_payments"] += 1
            return [self.emitter.prediction(self.scorer.unscored(tx, [NOT_A_PAYMENT_FLAG]))]
        state = self._state(tx.terminal_id)
        x = {**enriched.x, **terminal_features(state, tx)}
        self.terminals[tx.terminal_id] = state.to_bytes()
        flags = [KNOWN_FRAUD_FLAG] if enriched.card_flagged else []
        prediction = self.scorer.score(tx, x, flags)
        self.counts["predictions"] += 1
        outputs = [self.emitter.prediction(prediction)]
        early = self.early.pop(tx.event_id)
        if early is None:
            # As bytes: compact, and invisible to the garbage collector (see PendingFeatures).
            kept = Enriched(tx, x, enriched.card_flagged, enriched.payment).to_bytes()
            self.pending.put(tx.event_id, self.scorer.task, kept)
        else:
            outputs.extend(self._join(tx, x, early.x, early=True))
        return outputs

    def _label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        label = decode(Label, raw, origin, key)
        if isinstance(label, DeadLetter):
            return [self.dead(label)]
        seen = self.pending.pop(label.event_id)
        if seen is not None:
            kept = Enriched.from_bytes(seen.x)
            return self._join(kept.tx, kept.x, label, early=False)
        # The transaction is not scored yet (or was scored before a restart, or on a
        # partition this worker lost): wait for it, but update the terminal and the card
        # now if the label says where; the label time keeps the features in event time.
        self.counts["labels_waiting"] += 1
        self.early.put(label.event_id, self.scorer.task, label)
        if label.label != "1":
            return []
        return self._fraud(label.terminal_id, label.customer_id, label.event_time, label)

    def _join(
        self, tx: Transaction, x: dict[str, float], label: Label, early: bool
    ) -> list[Output]:
        """The example for a scored transaction and its label, and a fraud's updates not
        already made when the label came early."""
        outputs = [self._example(tx, x, label)]
        if label.label == "1":
            terminal_done = early and label.terminal_id is not None and label.event_time is not None
            customer_done = early and label.customer_id is not None
            outputs.extend(
                self._fraud(
                    None if terminal_done else tx.terminal_id,
                    None if customer_done else tx.customer_id,
                    tx.event_time,
                    label,
                )
            )
        return outputs

    def _fraud(
        self, terminal: str | None, customer: str | None, when: datetime | None, label: Label
    ) -> list[Output]:
        if terminal is not None and when is not None:
            state = self._state(terminal)
            record_terminal_fraud(state, when, label.label_time)
            self.terminals[terminal] = state.to_bytes()
        if customer is None:
            return []
        notice = CardFraud(customer, label.label_time)
        return [Output(self.topics.fraud_customer_frauds, customer.encode(), notice.to_bytes())]

    def _example(self, tx: Transaction, x: dict[str, float], label: Label) -> Output:
        example = Example(tx.event_id, x, label.label == "1", tx.event_time, label.label_time)
        self.counts["examples"] += 1
        return Output(self.topics.fraud_training, self.scorer.task.encode(), example.to_bytes())

    def _state(self, terminal_id: str) -> TerminalState:
        raw = self.terminals.get(terminal_id)
        return TerminalState.from_bytes(raw) if raw else TerminalState()
