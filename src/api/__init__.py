"""Sentiment analysis HTTP API (one code base, variants v1 and v2 chosen by configuration)."""
