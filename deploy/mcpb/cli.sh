#!/usr/bin/env bash
# The MCPB CLI (npm package @anthropic-ai/mcpb, pinned), installed with npm into
# target/mcpb-cli the first time it is needed. `cli.sh --install` only installs it;
# `cli.sh --installed` says (by its exit status) whether the pinned version is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=2.1.2
prefix=$root/target/mcpb-cli
installed() {
    grep -q "\"version\": \"$version\"" "$prefix/node_modules/@anthropic-ai/mcpb/package.json" 2>/dev/null
}
if [ "${1:-}" = "--installed" ]; then installed; exit; fi
if ! installed; then
    command -v npm >/dev/null || { echo "deploy/mcpb/cli.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
    echo "deploy/mcpb/cli.sh: installing @anthropic-ai/mcpb@$version into $prefix (npm)" >&2
    npm install --silent --no-audit --no-fund --prefix "$prefix" "@anthropic-ai/mcpb@$version" >&2
fi
if [ "${1:-}" = "--install" ]; then exit 0; fi
exec "$prefix/node_modules/.bin/mcpb" "$@"
