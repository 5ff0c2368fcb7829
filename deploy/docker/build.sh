#!/usr/bin/env bash
# Builds the image `vigil:local` from statically linked release binaries (no registry needed:
# the image is FROM scratch). Usage: bash deploy/docker/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
target=x86_64-unknown-linux-gnu
echo "== building static binaries ($target)"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$target" \
  -p vigil-node -p vigil-sentinel -p vigil
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for b in vigil-node vigil-sentinel vigil; do
  cp "target/$target/release/$b" "$ctx/"
done
cp deploy/docker/Dockerfile "$ctx/"
echo "== building the image vigil:local"
docker build -q -t vigil:local "$ctx"
