"""All fraud feature state in one process: offline evaluation and tests.

The worker keeps the same :class:`~streamml.features.customer.CustomerState` and
:class:`~streamml.features.terminal.TerminalState` in Faust tables instead; the feature
functions are the same, so offline and online numbers agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from streamml.features.customer import (
    CustomerState,
    customer_features,
    customer_known_fraud,
    mark_customer_fraud,
)
from streamml.features.session import SessionState, is_payment, session_features
from streamml.features.terminal import (
    HORIZON,
    TerminalState,
    record_terminal_fraud,
    terminal_features,
)
from streamml.records import Label, Transaction

TASK = "fraud"
FRAUD = "1"
DEFAULT_TTL = timedelta(microseconds=HORIZON)
"""How long a transaction waits for its label: past the longest terminal window (7 + 30
days) a fraud can no longer change any terminal feature."""


class FraudFeatureStore:
    """Customer and terminal states in dicts, fed transactions and labels in time order.

    Feed labels when they arrive (at their ``label_time``; offline,
    :func:`streamml.datasets.interleave_labels` does that). Each transaction is remembered
    until its label comes or, without one, for ``ttl`` of event time, so a label can find
    the card and terminal it concerns.

    Examples
    --------
    >>> from datetime import UTC
    >>> t0 = datetime(2018, 4, 1, tzinfo=UTC)
    >>> store = FraudFeatureStore()
    >>> x = store.on_transaction(Transaction("a", t0, "c1", "t1", 40.0))
    >>> x["CUSTOMER_ID_NB_TX_1DAY_WINDOW"], x["TERMINAL_ID_NB_TX_1DAY_WINDOW"]
    (1.0, 0.0)
    >>> store.on_label(Label("a", "fraud", "1", t0 + timedelta(days=7)))
    >>> store.known_fraud("c1", t0 + timedelta(days=7))
    True
    >>> x = store.on_transaction(Transaction("b", t0 + timedelta(days=7), "c2", "t1", 9.0))
    >>> x["TERMINAL_ID_RISK_1DAY_WINDOW"]
    1.0
    """

    def __init__(self, ttl: timedelta = DEFAULT_TTL) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        self.ttl = ttl
        self.customers: dict[str, CustomerState] = {}
        self.terminals: dict[str, TerminalState] = {}
        self.sessions: dict[str, SessionState] = {}
        self.unmatched_labels = 0
        self._awaiting: dict[str, tuple[str, str, datetime]] = {}
        self._sweep_at: datetime | None = None

    def on_transaction(self, tx: Transaction) -> dict[str, float]:
        """Update the card's and the terminal's state with ``tx``; return all its features.

        Clickstream events that are not payments only update the customer's session and
        return its ``SESSION_`` features (see :func:`~streamml.features.session.is_payment`).
        """
        session = self.sessions.get(tx.customer_id)
        if session is None:
            session = self.sessions[tx.customer_id] = SessionState()
        in_session = session_features(session, tx)
        if not is_payment(tx):
            return in_session
        customer = self.customers.get(tx.customer_id)
        if customer is None:
            customer = self.customers[tx.customer_id] = CustomerState()
        terminal = self.terminals.get(tx.terminal_id)
        if terminal is None:
            terminal = self.terminals[tx.terminal_id] = TerminalState()
        x = customer_features(customer, tx)
        x.update(in_session)
        x.update(terminal_features(terminal, tx))
        self._awaiting[tx.event_id] = (tx.customer_id, tx.terminal_id, tx.event_time)
        if self._sweep_at is None or tx.event_time >= self._sweep_at:
            self._sweep(tx.event_time)
        return x

    def on_label(self, label: Label) -> None:
        """Apply a fraud label to its terminal and card; genuine labels only end the wait.

        Labels of other tasks are ignored; labels of unknown (or expired) transactions
        are counted in :attr:`unmatched_labels`.
        """
        if label.task != TASK:
            return
        seen = self._awaiting.pop(label.event_id, None)
        if seen is None:
            self.unmatched_labels += 1
            return
        if label.label != FRAUD:
            return
        customer_id, terminal_id, tx_time = seen
        record_terminal_fraud(self.terminals[terminal_id], tx_time, label.label_time)
        mark_customer_fraud(self.customers[customer_id], label.label_time)

    def known_fraud(self, customer_id: str, at: datetime) -> bool:
        """Whether a fraud on this card was known (its label had arrived) by ``at``."""
        state = self.customers.get(customer_id)
        return state is not None and customer_known_fraud(state, at)

    @property
    def awaiting_labels(self) -> int:
        """How many transactions are remembered, waiting for their label."""
        return len(self._awaiting)

    def _sweep(self, now: datetime) -> None:
        """Forget transactions older than the TTL; runs every quarter TTL of event time."""
        cutoff = now - self.ttl
        self._awaiting = {k: v for k, v in self._awaiting.items() if v[2] > cutoff}
        self._sweep_at = now + self.ttl / 4
