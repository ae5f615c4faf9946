#!/usr/bin/env bash
# Builds the user/ workspace (release) and packs every program of user/bin/* into the
# boot archive target/initrd.cpio as bin/NAME, each file's data page-aligned so the
# launcher maps program segments straight from the archive (scripts/mkcpio.py).
#
#   scripts/mkinitrd.sh [OUTPUT]      default target/initrd.cpio
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/target/initrd.cpio}
(cd "$root/user" && cargo build --release --quiet)
bins=$root/user/target/aarch64-unknown-none-softfloat/release
entries=()
for dir in "$root"/user/bin/*/; do
    name=$(basename "$dir")
    [[ -f $bins/$name ]] || { echo "mkinitrd.sh: $bins/$name was not built" >&2; exit 1; }
    entries+=("bin/$name=$bins/$name")
done
mkdir -p "$(dirname "$out")"
python3 "$root/scripts/mkcpio.py" --page-align "$out" "${entries[@]}"
echo "initrd: $out ($(stat -c %s "$out") bytes, ${#entries[@]} programs)"
