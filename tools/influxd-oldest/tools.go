//go:build tools

// Package tools pins the oldest InfluxDB 2 server pricecap supports (and tests in CI),
// built as pricecap/influxd_build builds the current one:
// PRICECAP_INFLUXD_MODULE=tools/influxd-oldest pricecap/influxd_build/build.sh
package tools

import (
	_ "github.com/influxdata/influxdb/v2/cmd/influxd"
	_ "github.com/influxdata/pkg-config"
)
