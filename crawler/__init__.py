"""raqib's crawler side, in layers that import downward only (tests/test_architecture.py):
errors/items/logs (shared vocabulary) < report < ops < fleet < state < discovery < engine
< probe < run < mirror < web < cli; all of them build on the Scrapy-free `pipelines/`."""
