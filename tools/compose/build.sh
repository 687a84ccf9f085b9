#!/usr/bin/env bash
# Build the Docker Compose CLI plugin pinned in go.mod, once, into a cache outside the clone, and install it
# as the docker CLI's `compose` plugin when the CLI has none. The tests check docker-compose.yml with
# `docker compose config`, which needs no Docker engine; Debian ships the CLI without the v2 plugin.
#
#   tools/compose/build.sh            prints the path of the cached plugin, building and linking it if needed
#
# The cache is the influxd build's (${PRICECAP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pricecap}), keyed by the
# pinned version. The plugin is linked into ${DOCKER_CONFIG:-~/.docker}/cli-plugins, the CLI's per-user
# plugin folder; an existing `docker compose` is left alone. Only the plugin's path goes to stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/docker/compose/v2" {print $3}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no compose version pinned in $here/go.mod" >&2; exit 1; }
cache=${PRICECAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pricecap}
binary="$cache/docker-compose-$version"

if [ ! -x "$binary" ]; then
  command -v go >/dev/null || { echo "build.sh: 'go' is missing" >&2; exit 1; }
  mkdir -p "$cache"
  started=$(date +%s)
  echo "build.sh: building the docker compose plugin $version (first time only: about 2 minutes)" >&2
  cd "$here"
  GOTOOLCHAIN=auto GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$version" \
    -o "$binary.$$.tmp" github.com/docker/compose/v2/cmd
  mv "$binary.$$.tmp" "$binary"  # one name per build: two setups at once each rename their own
  echo "build.sh: built $binary in $(( $(date +%s) - started )) s" >&2
fi

if ! docker compose version >/dev/null 2>&1; then
  plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugins"
  ln -sf "$binary" "$plugins/docker-compose"
  echo "build.sh: linked $plugins/docker-compose" >&2
fi
echo "$binary"
