#!/usr/bin/env bash
# The README's test command: install what the test suite needs and is missing, say what and why,
# then run both tiers (`cargo test --locked --features system-tests`). CI (.ci/run) runs this same
# script. Extra arguments go to cargo test (e.g. `tests/run.sh sftp` runs the SFTP tests only);
# `tests/run.sh --install-only` installs and stops.
#
# Installs, only when missing: Debian packages with apt-get (as root, or with sudo), the official
# MCP Python SDK and the Prometheus client in ./.venv (pip), the MCPB CLI in ./target/mcpb-cli
# (npm). Set INGEST_TEST_NO_INSTALL=1 to only report what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'tests/run.sh: %s\n' "$*" >&2; }

# What the suite runs, the Debian package that has it, and which tests need it.
packages=()
reasons=()
need() {
    local present=$1 package=$2 why=$3
    if ! eval "$present" >/dev/null 2>&1; then
        packages+=("$package")
        reasons+=("  $package: $why")
    fi
}
need "command -v cc"                 build-essential   "gcc: the build compiles SQLite, libssh2 and OpenSSL from source"
need "command -v make"               make              "OpenSSL's build"
need "perl -MFindBin -MIPC::Cmd -e1" perl              "OpenSSL's build configuration (perl with its standard modules)"
need "test -x /usr/sbin/sshd"        openssh-server    "the SFTP tests start their own sshd on 127.0.0.1"
need "command -v ssh-keygen"         openssh-client    "the SFTP tests make their host and user keys"
need "command -v chromium"           chromium          "the status page test renders /status in headless Chromium"
need "command -v chromedriver"       chromium-driver   "the status page test drives Chromium over WebDriver"
need "test -d /usr/share/fonts/truetype/dejavu" fonts-dejavu-core "a font for the status page's screenshot"
need "test -x /usr/bin/systemd-analyze" systemd        "systemd-analyze verify of deploy/ingest.service; systemd-sysusers"
need "test -x /sbin/mkfs.ext4"       e2fsprogs         "the full-disk and read-only-archive tests' small loop-mounted filesystems"
need "test -x /sbin/losetup"         mount             "the same tests mount those filesystems"
need "python3 -c 'import venv, ensurepip'" python3-venv "the .venv that holds the official MCP Python SDK"
need "command -v npm"                npm               "the Claude Desktop extension test packs and checks the bundle with the MCPB CLI"

install_only=""
if [ "${1:-}" = "--install-only" ]; then install_only=1; shift; fi
no_install=${INGEST_TEST_NO_INSTALL:-}
missing() {
    say "$1"
    [ -z "$no_install" ] || { say "INGEST_TEST_NO_INSTALL is set: not installing"; exit 1; }
}

if [ ${#packages[@]} -gt 0 ]; then
    say "missing, from Debian's packages:"
    printf '%s\n' "${reasons[@]}" >&2
    missing "install them with: apt-get install ${packages[*]}"
    if ! command -v apt-get >/dev/null; then
        say "no apt-get here: install the equivalents of these packages, then run this again"
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { say "not root and no sudo: run as root, or install them first"; exit 1; }
        sudo="sudo"
    fi
    say "installing: apt-get install ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
    say "not root: the full-disk, read-only-archive and sysusers tests need root (loop mounts) and will fail"
fi

# The official MCP Python SDK (the system tier's MCP client) and the Prometheus client (whose
# parser reads /metrics), pinned; tests/it/util.rs pins the same.
python_packages=("mcp==2.3.0" "prometheus-client==0.26.0")
if ! .venv/bin/python -c 'import importlib.metadata as m; assert (m.version("mcp"), m.version("prometheus-client")) == ("2.3.0", "0.26.0")' >/dev/null 2>&1; then
    missing "missing from .venv: ${python_packages[*]}"
    say "installing into .venv: ${python_packages[*]} (pip, from PyPI)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "${python_packages[@]}"
fi

# The MCPB CLI, pinned, for the extension test (deploy/mcpb/cli.sh installs and runs it).
if ! deploy/mcpb/cli.sh --installed; then
    missing "missing: the MCPB CLI in target/mcpb-cli"
    deploy/mcpb/cli.sh --install
fi
[ -z "$install_only" ] || { say "installed what the tests need"; exit 0; }

# The shared HL7 corpus is read in place, never copied into the repository.
if [ -z "${INGEST_CORPUS:-}" ]; then
    for dir in ../shared/corpus/hl7 /work/shared/corpus/hl7; do
        if [ -d "$dir" ]; then export INGEST_CORPUS="$(cd "$dir" && pwd)"; break; fi
    done
fi
if [ -z "${INGEST_CORPUS:-}" ]; then
    say "no HL7 corpus at ../shared/corpus/hl7 (set INGEST_CORPUS): the corpus test is skipped"
    export INGEST_CORPUS=skip
fi

say "running: cargo test --locked --features system-tests $*"
exec cargo test --locked --features system-tests "$@"
