"""Restoring a stack step's database or cache from a catalogued snapshot, on each profile."""
