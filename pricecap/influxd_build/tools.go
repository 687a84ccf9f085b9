//go:build tools

// Package tools pins the InfluxDB 2 server and the pkg-config wrapper that builds
// its Flux engine (libflux, Rust) as ordinary Go dependencies of pricecap.
package tools

import (
	_ "github.com/influxdata/influxdb/v2/cmd/influxd"
	_ "github.com/influxdata/pkg-config"
)
