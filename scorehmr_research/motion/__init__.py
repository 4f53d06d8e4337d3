"""Open motion data -> canonical clips on the shipped body model (see canonical.py)."""
