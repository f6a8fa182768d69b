"""Several crawl processes sharing one Redis: membership, locks, the shared frontier, leadership."""
