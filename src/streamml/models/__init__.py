"""River model factories, one file per task. Each returns a fresh, unfitted estimator."""
