#!/usr/bin/env bash
# Build the Debian package with cargo-deb: target/debian/ingest_VERSION-1_ARCH.deb, holding the
# release binary, its manual pages, the systemd unit, the sysusers and tmpfiles entries, the
# documented example configuration as /etc/ingest/ingest.toml (a conffile) and the docs.
# ([package.metadata.deb] in Cargo.toml says what goes where; deploy/deb/postinst is the
# package's own part of the install script.) Prints the package's path last.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v cargo-deb >/dev/null; then
    echo "deploy/deb/build.sh: installing cargo-deb 3.8.0 (cargo install)" >&2
    cargo install --locked --quiet cargo-deb@3.8.0
fi
cargo build --release --locked
rm -rf target/man
target/release/ingest man target/man
gzip -9n target/man/*.1
cargo deb --no-build --output target/debian/ | tail -n 1
