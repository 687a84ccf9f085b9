#!/usr/bin/env bash
# Build the InfluxDB 2 server (influxd) pinned in go.mod, once, into a cache outside the clone.
#
#   pricecap/influxd_build/build.sh            prints the path of the cached binary, building it if needed
#   pricecap/influxd_build/build.sh --cached   prints it only if it is cached already (else exit 1, silently)
#
# It ships inside pricecap's wheel, so an installed pricecap builds the same way. Without Go, Rust, gcc or
# pkg-config it exits 3 naming what is missing.
#
# The cache lives in ${PRICECAP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pricecap} and is keyed by the pinned
# version, so a new pin builds anew and an unchanged pin costs nothing. The Flux engine (libflux) is Rust,
# built by cargo through github.com/influxdata/pkg-config; its crates deny warnings, which newer Rust turns
# into errors, so rustc runs through a wrapper that caps lints at "warn" (RUSTFLAGS does not reach the
# host-side build). Progress goes to stderr; only the binary's path goes to stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1 == "github.com/influxdata/influxdb/v2" {print $2}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no influxdb version pinned in $here/go.mod" >&2; exit 1; }
cache=${PRICECAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pricecap}
binary="$cache/influxd-$version"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
[ "${1:-}" != --cached ] || exit 1

missing=()
for tool in go cargo rustup gcc pkg-config; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build.sh: cannot build influxd, missing: ${missing[*]} (see README: The InfluxDB server)" >&2
  exit 3
fi
work="$cache/build-$version"
mkdir -p "$work/bin"
cat > "$work/bin/rustc-caplints" <<'WRAP'
#!/bin/sh
exec "$@" --cap-lints=warn
WRAP
chmod +x "$work/bin/rustc-caplints"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=1
started=$(date +%s)
echo "build.sh: building influxd $version (first time only: expect 10-20 minutes on 2 cores)" >&2
cd "$here"
go build -o "$work/bin/pkg-config" github.com/influxdata/pkg-config
# A failed earlier attempt leaves a half-built flux copy that pkg-config would reuse forever.
[ -f "$work/.flux-ok" ] || rm -rf "$(go env GOCACHE)/pkgconfig"
PKG_CONFIG="$work/bin/pkg-config" RUSTUP_TOOLCHAIN=stable RUSTC_WRAPPER="$work/bin/rustc-caplints" \
  PKG_CONFIG_LOG="$work/pkg-config.log" \
  go build -tags sqlite_foreign_keys,sqlite_json -o "$binary.tmp" github.com/influxdata/influxdb/v2/cmd/influxd
touch "$work/.flux-ok"
mv "$binary.tmp" "$binary"
echo "build.sh: built $binary in $(( $(date +%s) - started )) s" >&2
echo "$binary"
