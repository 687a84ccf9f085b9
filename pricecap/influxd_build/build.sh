#!/usr/bin/env bash
# Build the InfluxDB 2 server (influxd) pinned in go.mod, once, into a cache outside the clone.
#
#   pricecap/influxd_build/build.sh            prints the path of the cached binary, building it if needed
#   pricecap/influxd_build/build.sh --cached   prints it only if it is cached already (else exit 1, silently)
#   pricecap/influxd_build/build.sh --can-build   exit 0 if it can build, else 3 printing what is missing
#
# PRICECAP_INFLUXD_MODULE=<dir> builds the influxd pinned by another Go module of the same shape instead (the
# tests build the oldest supported 2.x from tools/influxd-oldest this way).
#
# It ships inside pricecap's wheel, so an installed pricecap builds the same way. Without Go, Rust, gcc or
# pkg-config it exits 3 naming what is missing.
#
# The UI: with PRICECAP_INFLUXD_UI=build.tar.gz (the release asset of github.com/influxdata/ui that matches the
# server, e.g. OSS-v2.7.x) and PRICECAP_INFLUXD_UI_SHA256 (its sha256), the binary embeds the UI, built as
# influxdb's own Makefile does: the asset unpacked into static/data of a writable copy of the influxdb module,
# go-bindata, and the `assets` build tag. Such a build is cached apart, keyed by the asset's sha256.
#
# The cache lives in ${PRICECAP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pricecap} and is keyed by the pinned
# version, so a new pin builds anew and an unchanged pin costs nothing. The Flux engine (libflux) is Rust,
# built by cargo through github.com/influxdata/pkg-config; its crates deny warnings, which newer Rust turns
# into errors, so rustc runs through a wrapper that caps lints at "warn" (RUSTFLAGS does not reach the
# host-side build). Progress goes to stderr; only the binary's path goes to stdout.
set -euo pipefail
here=$(cd "${PRICECAP_INFLUXD_MODULE:-$(dirname "${BASH_SOURCE[0]}")}" && pwd)
version=$(awk '$1 == "github.com/influxdata/influxdb/v2" {print $2}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no influxdb version pinned in $here/go.mod" >&2; exit 1; }
cache=${PRICECAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pricecap}
binary="$cache/influxd-$version"
ui=${PRICECAP_INFLUXD_UI:-}
if [ -n "$ui" ]; then
  sha=${PRICECAP_INFLUXD_UI_SHA256:-}
  [ -f "$ui" ] || { echo "build.sh: PRICECAP_INFLUXD_UI=$ui is not a file" >&2; exit 1; }
  [[ $sha =~ ^[0-9a-f]{64}$ ]] || { echo "build.sh: set PRICECAP_INFLUXD_UI_SHA256 to the sha256 of $ui" >&2; exit 1; }
  [ "$(sha256sum < "$ui" | cut -d' ' -f1)" = "$sha" ] || { echo "build.sh: $ui does not have sha256 $sha" >&2; exit 1; }
  binary="$cache/influxd-$version-ui-${sha:0:16}"
fi
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
[ "${1:-}" != --cached ] || exit 1

missing=()
for tool in go cargo rustup gcc pkg-config objcopy; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${1:-}" = --can-build ]; then
    echo "${missing[*]}"
  else
    echo "build.sh: cannot build influxd, missing: ${missing[*]} (see README: The InfluxDB server)" >&2
  fi
  exit 3
fi
[ "${1:-}" != --can-build ] || exit 0
work="$cache/build-$version"
mkdir -p "$work/bin"
cat > "$work/bin/rustc-caplints" <<'WRAP'
#!/bin/sh
exec "$@" --cap-lints=warn
WRAP
chmod +x "$work/bin/rustc-caplints"
# Go 1.26.11, which 2.10 needs, refuses a static library from pkg-config that carries LLVM bitcode sections (1.26.8
# did not), and every Rust staticlib does: the objects of Rust's std embed bitcode. The linker ignores those
# sections, so this wrapper of influxdata's pkg-config strips them from the library its -L and -l name (a hard
# link to cargo's output, stripped with it: pkg-config names the stripped one by its own hash from then on).
cat > "$work/bin/pkg-config-nobitcode" <<'WRAP'
#!/bin/sh
out=$("$(dirname "$0")/pkg-config" "$@") || exit
dirs=
for word in $out; do case $word in -L*) dirs="$dirs ${word#-L}" ;; esac; done
for word in $out; do
  case $word in -l*)
    for dir in $dirs; do
      lib="$dir/lib${word#-l}.a"
      [ ! -f "$lib" ] || objcopy --remove-section=.llvmbc --remove-section=.llvmcmd "$lib" || exit
    done ;;
  esac
done
printf '%s\n' "$out"
WRAP
chmod +x "$work/bin/pkg-config-nobitcode"

# GOTOOLCHAIN=auto: a Go older than go.mod's `go` line (InfluxDB 2.10 needs 1.26.11) fetches that toolchain from
# the Go module proxy once (Go >= 1.21 can); a newer Go builds as it is.
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod CGO_ENABLED=1
started=$(date +%s)
echo "build.sh: building influxd $version${ui:+ with the UI of $ui} (first time only: expect 10-20 minutes on 2 cores)" >&2
cd "$here"
go build -o "$work/bin/pkg-config" github.com/influxdata/pkg-config
tags=sqlite_foreign_keys,sqlite_json,flux_nosqlite  # the tags of influxdb's GNUmakefile, without `assets`
if [ -n "$ui" ]; then
  influxdb=github.com/influxdata/influxdb/v2
  copy="$work/ui-${sha:0:16}"
  rm -rf "$copy"
  mkdir -p "$copy"
  cp go.mod go.sum tools.go "$copy/"
  go mod download "$influxdb"
  cp -r "$(go list -m -f '{{.Dir}}' "$influxdb")" "$copy/influxdb"
  chmod -R u+w "$copy/influxdb"
  mkdir -p "$copy/influxdb/static/data"
  tar -xzf "$ui" -C "$copy/influxdb/static/data"
  [ -f "$copy/influxdb/static/data/build/index.html" ] || { echo "build.sh: $ui has no build/index.html" >&2; exit 1; }
  go build -o "$work/bin/go-bindata" github.com/kevinburke/go-bindata/go-bindata
  (cd "$copy/influxdb/static" && "$work/bin/go-bindata" -o static_gen.go -ignore 'map|go' -tags assets -pkg static data/...)
  (cd "$copy" && go mod edit -replace "$influxdb=./influxdb")
  cd "$copy"
  tags="assets,$tags"
fi
# A failed earlier attempt leaves a half-built copy of this flux version that pkg-config would reuse forever. Once
# its library is built, the copy stays: every build on the machine shares it, and Go's cache links against it.
flux=$(go list -m -f '{{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}' github.com/influxdata/flux)
copy_of_flux="$(go env GOCACHE)/pkgconfig/github.com/influxdata/flux@$flux"
compgen -G "$copy_of_flux/libflux/target/*/release/libflux.a" >/dev/null || rm -rf "$copy_of_flux"
PKG_CONFIG="$work/bin/pkg-config-nobitcode" RUSTUP_TOOLCHAIN=stable RUSTC_WRAPPER="$work/bin/rustc-caplints" \
  PKG_CONFIG_LOG="$work/pkg-config.log" \
  go build -tags "$tags" -ldflags "-X main.version=$version" -o "$binary.$$.tmp" \
  github.com/influxdata/influxdb/v2/cmd/influxd  # the version: `influxd version`, /health, pricecap up's upgrade
mv "$binary.$$.tmp" "$binary"  # one name per build: two setups at once each rename their own
[ -z "$ui" ] || rm -rf "$copy"
echo "build.sh: built $binary in $(( $(date +%s) - started )) s" >&2
echo "$binary"
