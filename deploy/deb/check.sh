#!/usr/bin/env bash
# Check a built package as an administrator would meet it: what it holds, then (as root) install it
# on this machine, check the installed configuration with the installed binary as the service's
# user, verify the installed unit, read the manual page, and purge it again. CI runs it on a
# throwaway machine; elsewhere run it only where installing and purging `ingest` is fine.
#
# Usage: deploy/deb/check.sh target/debian/ingest_*.deb
set -euo pipefail
deb=$(realpath "${1:?usage: deploy/deb/check.sh PACKAGE.deb}")
say() { printf 'deploy/deb/check.sh: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

contents=$(dpkg-deb --contents "$deb")
for path in usr/bin/ingest etc/ingest/ingest.toml usr/lib/systemd/system/ingest.service \
    usr/lib/sysusers.d/ingest.conf usr/lib/tmpfiles.d/ingest.conf usr/share/man/man1/ingest.1.gz \
    usr/share/man/man1/ingest-run.1.gz usr/share/man/man1/ingest-check-config.1.gz \
    usr/share/doc/ingest/INSTALL.md; do
    grep -q " \./$path\$" <<<"$contents" || fail "$deb does not hold /$path"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/ingest/ingest.toml \
    || fail "/etc/ingest/ingest.toml is not a conffile"
depends=$(dpkg-deb --field "$deb" Depends)
grep -q systemd <<<"$depends" || fail "Depends ($depends) lacks systemd"
! grep -q libssl <<<"$depends" || fail "Depends ($depends) names libssl: OpenSSL should be built in"
say "contents OK ($(grep -c . <<<"$contents") entries; Depends: $depends)"

[ "$(id -u)" = 0 ] || fail "installing the package needs root"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$deb" >/dev/null
id ingest >/dev/null || fail "no user ingest after install"
[ "$(stat -c '%U:%G %a' /etc/ingest/ingest.toml)" = "root:ingest 640" ] \
    || fail "/etc/ingest/ingest.toml is $(stat -c '%U:%G %a' /etc/ingest/ingest.toml), not root:ingest 640"
[ "$(stat -c '%U:%G %a' /var/lib/ingest)" = "ingest:ingest 750" ] \
    || fail "/var/lib/ingest is $(stat -c '%U:%G %a' /var/lib/ingest), not ingest:ingest 750"
runuser -u ingest -- ingest --config /etc/ingest/ingest.toml check-config >/tmp/ingest-check-config.txt \
    || { cat /tmp/ingest-check-config.txt >&2; fail "check-config on the installed configuration"; }
grep -q "^configuration OK" /tmp/ingest-check-config.txt || fail "check-config said: $(tail -n 1 /tmp/ingest-check-config.txt)"
systemd-analyze verify /usr/lib/systemd/system/ingest.service || fail "systemd-analyze verify of the installed unit"
zgrep -q '^\.TH' /usr/share/man/man1/ingest.1.gz || fail "ingest.1 is not a manual page"
zgrep -q 'Exit status' /usr/share/man/man1/ingest.1.gz || fail "ingest.1 does not give the exit codes"
say "installed OK: user ingest, /etc/ingest/ingest.toml root:ingest 640, check-config: $(tail -n 1 /tmp/ingest-check-config.txt), unit verified"

apt-get purge -y -qq ingest >/dev/null
[ ! -e /usr/bin/ingest ] || fail "/usr/bin/ingest is left after purge"
[ ! -e /etc/ingest/ingest.toml ] || fail "the conffile is left after purge"
say "purged OK (/var/lib/ingest, the snapshot and audit log, is kept by design)"
