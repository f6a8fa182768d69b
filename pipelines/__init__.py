"""raqib's article pipeline: plain functions (extract, language, normalise, tag, dedupe,
index, alert) that the crawl, the seeder and the command line all share."""
