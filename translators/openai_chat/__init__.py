"""Placeholder: filled in by the format module work."""
