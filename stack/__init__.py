"""The local stack: ``pricecap up``, ``status`` and ``down``, which compose the collector, the queries and the
simulation around the managed influxd. It is the top floor: it imports ``collector``, ``queries``,
``fake_binance`` and ``pricecap`` (the shared ground), and nothing imports it but the CLI's command table.
"""
