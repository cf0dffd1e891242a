#!/usr/bin/env bash
# Set up, then inspect the shipped default DIMM image: labels, namespaces, and a BTT check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
IMAGE=${1:-tests/images/kernel/a-sector4096-labels1.1.img.zst}
echo "== label-dump $IMAGE"
build/bin/label-dump "$IMAGE" || true
if [ -x build/bin/btt-check ]; then
  echo "== btt-check $IMAGE"
  build/bin/btt-check "$IMAGE"
fi
