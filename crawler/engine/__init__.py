"""The Scrapy side of one crawl: spider, middlewares, item pipelines, extensions, settings."""
