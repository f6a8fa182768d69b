"""The crawl state: one interface, a local SQLite store, a shared Redis store, and the choice between them."""
