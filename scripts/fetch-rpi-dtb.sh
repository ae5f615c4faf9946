#!/bin/sh
# Fetches the Raspberry Pi 4 Model B device tree used as a host-test fixture.
#
# The blob comes from Debian bookworm's signed arm64 kernel package, pinned by
# version and SHA-256 (taken from the bookworm/main/binary-arm64 Packages index),
# so the fixture is reproducible and its origin is auditable. See
# tests/fixtures/dtb/README.md.
#
# Usage: scripts/fetch-rpi-dtb.sh [OUTPUT]   (default tests/fixtures/dtb/bcm2711-rpi-4-b.dtb)
# Needs: curl, sha256sum, dpkg-deb, tar.
set -eu

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGE="linux-image-6.1.0-50-arm64"
VERSION="6.1.176-1"
DEB_PATH="pool/main/l/linux-signed-arm64/${PACKAGE}_${VERSION}_arm64.deb"
DEB_SHA256="914f75b57a8e165d85fb910c3e2dcc7000a05a9fea3f42f90b26e8dd590d5f06"
DTB_IN_PACKAGE="./usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2711-rpi-4-b.dtb"

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
output="${1:-$repo_root/tests/fixtures/dtb/bcm2711-rpi-4-b.dtb}"

for tool in curl sha256sum dpkg-deb tar; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "fetch-rpi-dtb: '$tool' is required but not installed" >&2
        exit 1
    }
done

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT INT TERM

deb="$workdir/kernel.deb"
echo "fetch-rpi-dtb: downloading $MIRROR/$DEB_PATH"
# Debian drops superseded kernels from the pool at point releases; if this 404s,
# take the same file from snapshot.debian.org (set DEBIAN_MIRROR), or bump the pin.
curl --fail --silent --show-error --location --output "$deb" "$MIRROR/$DEB_PATH"

echo "$DEB_SHA256  $deb" | sha256sum --check --quiet - || {
    echo "fetch-rpi-dtb: SHA-256 mismatch for $DEB_PATH" >&2
    exit 1
}

# Extract only the one file we need from the package's data archive.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$workdir" "$DTB_IN_PACKAGE"

mkdir -p "$(dirname -- "$output")"
cp "$workdir/$DTB_IN_PACKAGE" "$output"
echo "fetch-rpi-dtb: wrote $output ($(wc -c <"$output") bytes, sha256 $(sha256sum "$output" | cut -d' ' -f1))"
