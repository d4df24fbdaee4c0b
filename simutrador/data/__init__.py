"""Market data: symbols, timeframes, catalogs (sample, directory, frames) and market checks.

A `simutrador.data.catalog.Catalog` answers which symbols exist, their ranges per
timeframe and their bars; `simutrador.data.market.MarketDataValidator` checks a
session request against it.
"""
