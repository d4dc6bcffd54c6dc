"""Print the failed and errored tests of a pytest JUnit XML report, one line each.

`make molecule` / `make test-vm` call it when a scenario fails, so that the last lines of a long
run (all a CI log may keep) name the tests that failed and why. Exit code 0 even without a report.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def failures(report: Path) -> list[str]:
    lines = []
    for case in ET.parse(report).getroot().iter("testcase"):
        for outcome in ("failure", "error"):
            for node in case.findall(outcome):
                message = (node.get("message") or node.text or "").strip().splitlines()
                first = message[0][:300] if message else ""
                test = f"{case.get('classname')}::{case.get('name')}"
                lines.append(f"{outcome.upper()} {test}: {first}")
    return lines


def main(argv: list[str]) -> int:
    report = Path(argv[1])
    if not report.is_file():
        print(f"no test report at {report} (the scenario failed before or outside its verify step)")
        return 0
    lines = failures(report)
    print(f"{len(lines)} failed test(s) in {report}:" if lines else f"no failed test in {report}")
    for line in lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
