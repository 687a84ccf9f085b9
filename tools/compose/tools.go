//go:build tools

// Package tools pins the Docker Compose CLI plugin that tools/compose/build.sh builds, so that
// `docker compose config` can check docker-compose.yml on machines that have the docker CLI but no plugin.
package tools

import _ "github.com/docker/compose/v2/cmd"
