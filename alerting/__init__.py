"""pricecap's alerts: the Prometheus rules file (deploy/prometheus/pricecap-alerts.yaml) is their source; this
package reads it and renders it for the Prometheus Operator (deploy/kubernetes/pricecap-alerts.yaml)."""
