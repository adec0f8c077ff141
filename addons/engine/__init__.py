"""The engine: routing, upstream calls, translation and streaming."""
