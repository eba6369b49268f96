"""Warm-start a deployment from history: read it back and train before going live."""
