#!/usr/bin/env bash
# What the AWS twin needs beyond Go, installed when missing: Debian's qemu-user (runs the functions'
# arm64 bootstrap binaries on another host; needs root or sudo and the Debian mirror), and the IAM
# evaluator (npm ci from tools/twin/iam/package-lock.json). moto 5.2.1 comes with pip on the project's
# machines.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m)
if [ "$arch" != aarch64 ] && [ "$arch" != arm64 ] && ! command -v qemu-aarch64 >/dev/null; then
  echo "twin-tools: installing Debian's qemu-user (runs the arm64 Lambda binaries)…"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-user >/dev/null
fi
python3 -c 'import moto, sys; sys.exit(0 if moto.__version__ == "5.2.1" else 1)' 2>/dev/null || {
  echo "twin-tools: moto 5.2.1 is needed (pip install 'moto[server]==5.2.1')" >&2; exit 1; }
if [ ! -d tools/twin/iam/node_modules/@cloud-copilot/iam-simulate ]; then
  (cd tools/twin/iam && npm ci --no-audit --no-fund --silent)
fi
