//go:build tools

// Package tools pins Prometheus, whose promtool checks and unit-tests pricecap's alerting rules
// (deploy/prometheus) and whose server runs them in the end-to-end alert test. tools/prometheus/build.sh
// builds both.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
