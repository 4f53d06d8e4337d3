import backend  # noqa: F401  (its torch thread policy must be set before any benchmark loads torch)
