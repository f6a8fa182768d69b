"""`raqib outlets check`: the live probe of an outlet (HTTP under the crawl's rules, the checks, the report)."""
