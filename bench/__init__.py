"""`make bench`; the code is the `fbench` package, `python -m bench` runs it."""
