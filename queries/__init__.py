"""Price questions answered with Flux: the price at an instant, high/low and candles over intervals."""
