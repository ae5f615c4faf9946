#!/usr/bin/env bash
# `make lint`: the lint gates of `make test` and CI (issue 13). Each gate is one test:
#
#   fmt/kernel        cargo fmt --check on the kernel crate
#   fmt/user          cargo fmt --check on the EL0 crate (tests/user)
#   clippy/host       clippy -D warnings on the library and its unit tests for the host,
#                     with clippy::undocumented_unsafe_blocks; the pure core's modules
#                     carry #[warn(missing_docs)] (src/lib.rs), so an undocumented public
#                     item of the pure core fails here too
#   fmt/userspace     cargo fmt --check on the user/ workspace
#   clippy/userspace  clippy -D warnings on the user/ workspace (EL0 target) with
#                     clippy::undocumented_unsafe_blocks, and on its pure crate's tests
#                     for the host
#   clippy/kernel     clippy -D warnings on the kernel (library and binary) for the
#                     bare-metal target, with clippy::undocumented_unsafe_blocks
#
# Output reads like the other levels and ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
unsafe_lints=(-D warnings -W clippy::undocumented_unsafe_blocks)

passed=0 failed=0 failures=()
gate() {
    local name=$1 out
    shift
    printf 'test lint/%s ... ' "$name"
    if out=$("$@" 2>&1); then
        echo ok
        passed=$((passed + 1))
    else
        echo FAILED
        failed=$((failed + 1))
        failures+=("$name")
        printf '%s\n' "$out" | grep -Ev '^\s*(Compiling|Checking|Finished|Blocking)' | tail -n 40 | sed 's/^/    | /'
    fi
}

gate fmt/kernel cargo fmt --check
gate fmt/user bash -c 'cd tests/user && cargo fmt --check'
gate fmt/userspace bash -c 'cd user && cargo fmt --check'
gate clippy/userspace bash -c "cd user && cargo clippy --release --workspace -- ${unsafe_lints[*]} && cargo clippy -p pure --tests --target $host -- ${unsafe_lints[*]}"
gate clippy/host cargo clippy --lib --tests --target "$host" -- "${unsafe_lints[@]}"
gate clippy/kernel cargo clippy --profile release --target aarch64-unknown-none-softfloat --bin ferrite -- "${unsafe_lints[@]}"

echo
echo "$passed passed, $failed failed"
for f in "${failures[@]}"; do echo "  failed: $f"; done
[[ $failed -eq 0 ]]
