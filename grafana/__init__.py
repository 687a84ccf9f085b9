"""Grafana dashboards for pricecap, rendered from the Flux files of ``queries/`` (``python -m grafana.build``).

``provisioning/`` is what Grafana loads at start-up: the InfluxDB data source (its URL, org and token from the
environment) and the dashboards as JSON, which :mod:`grafana.build` writes and the tests compare with.
"""
