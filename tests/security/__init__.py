"""Security regression tests: one module per class of attack (issue: closed to hostile input)."""
