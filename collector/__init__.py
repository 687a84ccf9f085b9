"""The collector: Binance trade streams -> decode and validate -> line protocol -> batching writer."""
