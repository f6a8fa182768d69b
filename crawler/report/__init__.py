"""What a crawl counts and reports: Scrapy stats as the crawl report, outlet health, crawl metrics."""
