"""raqib's crawler side: configuration, the command line, the Scrapy spider and its
middlewares, crawl state, scheduling and the local Elasticsearch node manager."""
