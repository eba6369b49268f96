"""Offline evaluation: replay labelled streams through the worker's features and model.

:mod:`~streamml.evaluate.fraud` is the prequential replay loop with delayed labels,
:mod:`~streamml.evaluate.metrics` the ranking metrics, :mod:`~streamml.evaluate.protocol`
the Fraud Detection Handbook's split and exclusions, :mod:`~streamml.evaluate.report` the
figures, :mod:`~streamml.evaluate.sources` what can be replayed,
:mod:`~streamml.evaluate.emotion` the text models against a batch baseline, and
:mod:`~streamml.evaluate.cli` the ``streamml evaluate`` command.
"""
