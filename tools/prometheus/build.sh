#!/usr/bin/env bash
# Build Prometheus's server and promtool, pinned in go.mod, once, into a cache outside the clone. The tests use
# promtool to check and unit-test the alerting rules (deploy/prometheus) and the server to run them end to end.
#
#   tools/prometheus/build.sh    prints the folder holding `prometheus` and `promtool`, building them if needed
#
# The cache is the influxd build's (${PRICECAP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pricecap}), keyed by the
# pinned module version (v0.3xx.y is the Go module of Prometheus 3.xx.y). The build leaves out the web UI's
# assets (the API and /metrics need none) and every service discovery but static, file and DNS targets
# (`remove_all_sd`, `enable_dns_sd`: deploy/prometheus/prometheus.yml finds compose's collectors by DNS), which
# halves the build. Only the folder goes to stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no prometheus version pinned in $here/go.mod" >&2; exit 1; }
cache=${PRICECAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pricecap}
folder="$cache/prometheus-$version"
IFS=. read -r _ minor patch <<< "$version"
release="3.$((10#$minor - 300)).$patch"  # the module's v0.316.0 is Prometheus 3.16.0

if [ -x "$folder/prometheus" ] && [ -x "$folder/promtool" ]; then
  echo "$folder"
  exit 0
fi
command -v go >/dev/null || { echo "build.sh: 'go' is missing" >&2; exit 1; }
started=$(date +%s)
echo "build.sh: building prometheus and promtool $version (first time only: about 10 minutes on 2 cores)" >&2
cd "$here"
staging="$folder.$$.tmp"  # one name per build: two setups at once each rename their own
mkdir -p "$staging"
for command in prometheus promtool; do
  GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags remove_all_sd,enable_dns_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    -o "$staging/$command" "github.com/prometheus/prometheus/cmd/$command"
done
[ -x "$folder/prometheus" ] && [ -x "$folder/promtool" ] || rm -rf "$folder"  # left by a build cut short
mv -T "$staging" "$folder" 2>/dev/null || rm -rf "$staging"  # a build run at the same time got there first
echo "build.sh: built $folder in $(( $(date +%s) - started )) s" >&2
echo "$folder"
