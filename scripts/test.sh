#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, builds the
# binaries the system tests start, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v redis-benchmark >/dev/null 2>&1 || need_apt+=(redis-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c "import redis" >/dev/null 2>&1; then
  echo "== installing redis-py (pip)"
  python3 -m pip install --quiet --disable-pip-version-check redis
fi

echo "== building binaries"
cargo build --workspace --bins

echo "== building the container image (static binaries, FROM scratch)"
bash deploy/docker/build.sh

echo "== running tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
