#!/usr/bin/env python3
"""`make bench` (see bench/fbench/__init__.py): `python bench/run.py [--help]`."""

from __future__ import annotations

import sys

from fbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
