#!/usr/bin/env bash
# Fetches DynamoDB Local (the official jar, shipped inside the npm package amplify-dynamodb-simulator)
# into .cache/dynamodb-local, once. The store's highest-fidelity tests run it (with Java 17) inside a
# network namespace of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/dynamodb-local
version=2.9.30
if [ -f "$dest/DynamoDBLocal.jar" ]; then exit 0; fi
if ! command -v java >/dev/null; then
  echo "dynamodb-local: Java is needed (apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "dynamodb-local: fetching amplify-dynamodb-simulator@$version (DynamoDB Local)…"
(cd "$tmp" && npm pack "amplify-dynamodb-simulator@$version" --silent >/dev/null && tar xzf amplify-dynamodb-simulator-$version.tgz package/emulator)
mkdir -p "$dest"
cp -r "$tmp/package/emulator/." "$dest/"
test -f "$dest/DynamoDBLocal.jar"
