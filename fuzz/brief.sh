#!/usr/bin/env bash
# Run each fuzz target for FUZZ_SECONDS (default 20: CI's brief run; hours for a soak), starting
# from seeds made from the bundled sample exports. Exits non-zero on the first crash, leaving the
# input in fuzz/artifacts/TARGET/. Needs cargo-fuzz (installed here if missing).
#
# The build is cargo fuzz --dev (AddressSanitizer, the dev profile of fuzz/Cargo.toml: opt-level 1,
# lopdf at 0): about 5 minutes cold on 2 cores and then, in 20 s each, ~570 HL7, ~16,000 CSV and
# ~4,400 PDF executions from fresh seeds. An optimized build takes 12 min 20 s cold (10 minutes of
# it LLVM on lopdf, pdf-extract's PDF parser); FUZZ_RELEASE=1 builds that, for a soak.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
export RUSTC_BOOTSTRAP=1 # cargo-fuzz passes nightly-only flags; this lets a stable toolchain take them
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
profile=(--dev)
[ "${FUZZ_RELEASE:-0}" = 1 ] && profile=()
cargo fuzz build "${profile[@]}"
for target in hl7_parse csv_parse pdf_text; do
    seeds="corpus/$target"
    mkdir -p "$seeds"
    case "$target" in
        hl7_parse) find ../sample-exports -name '*.hl7' -exec cp {} "$seeds/" \; ;;
        csv_parse) for f in ../sample-exports/*/*.csv; do { printf '\x01'; cat "$f"; } > "$seeds/$(basename "$f")"; done ;;
        pdf_text) find ../sample-exports -name '*.pdf' -exec cp {} "$seeds/" \; ;;
    esac
    echo "fuzz: $target for ${seconds}s"
    status=0
    cargo fuzz run "${profile[@]}" "$target" "$seeds" -- -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"fuzz-$target.log" 2>&1 || status=$?
    grep -E '^#[0-9]+ *DONE|stat::number_of_executed_units|SUMMARY' "fuzz-$target.log" || true
    if [ "$status" != 0 ]; then
        tail -40 "fuzz-$target.log" >&2
        echo "fuzz: $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
