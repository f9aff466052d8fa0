#!/usr/bin/env bash
# Build the two Claude Desktop extensions (MCP bundles, server type "binary"):
#   OUT/ingest-connect.mcpb  `ingest mcp --connect URL`: a bridge to the ward's daemon, with its
#                            token (kept by Claude Desktop as a secret) and a CA file or pin;
#   OUT/ingest-local.mcpb    `ingest mcp --db FILE`: a snapshot on this machine.
# Each bundle is manifest.json (deploy/mcpb/connect.json or local.json, with the version of
# BINARY) and BINARY as server/ingest. The manifests are checked with `mcpb validate` and the
# bundles made with `mcpb pack` (deploy/mcpb/cli.sh, the official CLI from npm).
#
# Usage: deploy/mcpb/build.sh [BINARY] [OUT]   (defaults: target/release/ingest, target/mcpb)
# BINARY runs on the platform it was built for; the manifests say linux. A bundle for macOS or
# Windows needs a binary built there (and its platform added to `compatibility`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:-$root/target/release/ingest}
out=${2:-$root/target/mcpb}
[ -x "$binary" ] || { echo "deploy/mcpb/build.sh: $binary is not an executable (cargo build --release first)" >&2; exit 1; }
version=$("$binary" --version | awk '{print $2}')
mkdir -p "$out"
out=$(cd "$out" && pwd)
for variant in connect local; do
    stage=$out/ingest-$variant
    rm -rf "$stage" "$out/ingest-$variant.mcpb"
    mkdir -p "$stage/server"
    cp "$binary" "$stage/server/ingest"
    # Debug information is of no use on a clinician's machine.
    if command -v strip >/dev/null; then strip --strip-debug "$stage/server/ingest"; fi
    sed "s/@VERSION@/$version/" "$here/$variant.json" > "$stage/manifest.json"
    "$here/cli.sh" validate "$stage/manifest.json"
    "$here/cli.sh" pack "$stage" "$out/ingest-$variant.mcpb"
    echo "$out/ingest-$variant.mcpb"
done
