#!/usr/bin/env python
"""Run the test suite under coverage (branch coverage, failing under 95%).

Extra arguments go to pytest, e.g. ``python run_tests.py -k callback``.
"""

import subprocess
import sys


def main() -> int:
    python = sys.executable
    # -p no:cacheprovider keeps a clean checkout clean.
    pytest = [python, "-m", "coverage", "run", "-m", "pytest", "-p", "no:cacheprovider"]
    code = subprocess.call([*pytest, *sys.argv[1:]])
    if code != 0:
        return code
    return subprocess.call([python, "-m", "coverage", "report"])


if __name__ == "__main__":
    sys.exit(main())
