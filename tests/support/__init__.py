"""Helpers shared by the tests and the benchmarks (bench/): local HTTP sites, a real Redis,
crash and outage proxies, alert receivers, probe servers and the crawl runner. No test module
imports another test module: what two of them need lives here."""
