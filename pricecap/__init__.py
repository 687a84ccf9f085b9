"""pricecap: capture every Binance spot trade into InfluxDB 2 and answer price questions with Flux."""

__version__ = "0.1.0"
