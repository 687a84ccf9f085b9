"""What users would otherwise run instead of pricecap, for ``python -m bench.compare``.

``seed`` (one synchronous insert per trade) and ``batching`` (one ``Point`` per trade into influxdb-client's
default batching WriteApi) are what such users write by hand; ``cryptofeed_runner`` runs cryptofeed in a venv
of its own.
"""
