#!/usr/bin/env bash
# Browser tests of the web UI: installs what they need when missing (Debian's chromium, playwright-core
# from npm), builds sparkflow, runs the tests with Node's test runner. Called by `make test`.
set -euo pipefail
cd "$(dirname "$0")"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: installing Debian's chromium (needs root and the Debian mirror)…"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null; then
  echo "e2e: Node.js is needed for the browser tests (apt-get install nodejs)" >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --silent
fi
(cd .. && go build -o bin/sparkflow ./cmd/sparkflow)
export CHROMIUM
node --test --test-concurrency=1 ui.test.mjs
