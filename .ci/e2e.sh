#!/usr/bin/env bash
# CI: the browser tests. Installs Debian's Chromium and Playwright (never a Playwright
# browser download) if they are missing, then runs `make e2e`.
set -euo pipefail
cd "$(dirname "$0")/.."

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi

# `make e2e` creates .venv from requirements-dev.txt (which lists playwright) if needed;
# an older .venv may predate that line.
make .venv/.installed
.venv/bin/python -c "import playwright" 2>/dev/null || .venv/bin/python -m pip install --quiet playwright

make e2e
