"""Feature stages: typed records in, flat ``dict[str, float]`` (River's ``x``) out."""
