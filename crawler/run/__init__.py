"""Ways to run a crawl: one crawl and its modes, dry runs, and the scheduled service."""
