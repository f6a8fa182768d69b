"""Sample articles: the newest ones the sources list, fetched and extracted as the crawl
would (pipelines.extract, then language and topics), and what they say about the outlet's
extraction hints."""
from __future__ import annotations

import re
from datetime import datetime

from crawler.probe.context import EXAMPLES, Step
from crawler.probe.report import Sample
from pipelines.document import enrich
from pipelines.extract import ExtractionError, extract_article
from pipelines.urls import article_identity, canonicalize, safe_url

SHORT_TEXT = 300           # a sample with less text than this was probably cut
MAX_CANDIDATES = 1000      # newest article URLs considered for samples (and checked against robots.txt)


class SampleCheck(Step):
    """A few article pages, fetched and extracted; robots.txt's verdict on all those found."""

    def _candidates(self) -> list[tuple[str, str, bool]]:
        """Sample candidates: the newest dated article (feed, sitemap), then one from a page,
        alternating; (url, channel, matches_pattern)."""
        dated: list[tuple[datetime, str, str]] = []
        undated: list[tuple[str, str]] = []
        seen: set[str] = set()
        for channel in ("feed", "sitemap", "home", "section"):
            for key, (url, date) in self.state.matched.get(channel, {}).items():
                if key in seen:
                    continue
                seen.add(key)
                (dated.append((date, url, channel)) if date else undated.append((url, channel)))
        dated.sort(key=lambda d: d[0], reverse=True)
        ordered: list[tuple[str, str, bool]] = []
        a, b = [(u, c, True) for _, u, c in dated], [(u, c, True) for u, c in undated]
        while a or b:
            for queue in (a, b):
                if queue:
                    ordered.append(queue.pop(0))
        if not ordered and self.report.pattern_suggestion:
            # Nothing matches: try one URL of the suggested shape, to show whether it is an article.
            shape = re.compile(self.report.pattern_suggestion["pattern"])
            for channel in ("feed", "sitemap", "home", "section"):
                hit = next((u for u in self.state.unmatched.get(channel, {}).values() if shape.search(canonicalize(u))),
                           None)
                if hit:
                    return [(hit, channel, False)]
        return ordered[:MAX_CANDIDATES]

    def check_samples(self) -> None:
        wanted = max(0, self.options.samples)
        if not wanted:
            return
        candidates = self._candidates()
        disallowed = {url for url, _, _ in candidates if not self.fetch.allowed(url)}
        if disallowed:
            examples = [url for url, _, _ in candidates if url in disallowed][:EXAMPLES]
            self.report.robots["disallowed"] = examples
            newest = "newest " if len(candidates) == MAX_CANDIDATES else ""
            self.report.add("note", f"{len(disallowed)} of the {len(candidates)} {newest}article URLs found are "
                                    f"disallowed by robots.txt (the crawl skips them), e.g. {examples[0]}")
        found = len(candidates)
        self.state.articles_allowed = (found - len(disallowed), found)
        candidates = [c for c in candidates if c[0] not in disallowed]
        attempts = wanted + 2
        good = 0
        for url, channel, matches in candidates:
            if good >= wanted or attempts <= 0 or self.fetch.remaining <= 0:
                break
            attempts -= 1
            sample = self._sample(url, channel, matches)
            self.report.samples.append(sample)
            if sample.error is None:
                good += 1
        self._judge_samples(found, len(candidates))

    def _sample(self, url: str, channel: str, matches: bool) -> Sample:
        sample = Sample(url, channel, matches)
        response = self.fetch.get(url, "article")
        canonical = canonicalize(url)
        if response.status in (404, 410) and canonical != safe_url(url):
            # as the crawl does (crawler/discovery/planner.Fetch.fallback): the canonical
            # spelling when the outlet does not serve the one its source gave
            response = self.fetch.get(canonical, "article")
        sample.status, sample.final_url = response.status, response.final_url
        block = self.state.block(response)
        if block:
            sample.error = f"blocked: {block}"
            return sample
        if not response.ok:
            sample.error = response.describe()
            return sample
        try:
            article = extract_article(response.body, response.final_url, outlet=self.outlet, headers=response.headers)
        except ExtractionError as exc:
            sample.error = f"{exc.kind}: {exc.reason}"
            if exc.kind == "blocked":
                self.state.blocks.append((response.final_url, exc.reason))
                sample.error = f"blocked: {exc.reason}"
            return sample
        except Exception as exc:  # noqa: BLE001 - a page that breaks the extractor must not stop the check
            sample.error = f"extraction failed unexpectedly ({type(exc).__name__}: {exc}); please report this page"
            return sample
        hint = article.get("declared_lang") or self.outlet.language
        doc = enrich({"title": article.get("title"), "text": article.get("text")}, lang_hint=hint,
                     tagger=self.options.tagger)
        sample.title, sample.published_at = article.get("title"), article.get("published_at")
        sample.date_source, sample.modified_at = article.get("date_source"), article.get("modified_at")
        sample.author, sample.declared_lang = article.get("author"), article.get("declared_lang")
        sample.extraction_method, sample.warnings = article.get("extraction_method"), list(article.get("warnings") or [])
        sample.lang, sample.lang_prob = doc.get("lang"), doc.get("lang_prob")
        sample.text_chars, sample.words = len(article.get("text") or ""), int(doc.get("word_count") or 0)
        sample.topics = list(doc.get("topics") or [])
        sample.canonical_url = article_identity(response.final_url, article.get("canonical_url_hint"), self.outlet)
        return sample

    def _judge_samples(self, found: int, allowed: int) -> None:
        samples = self.report.samples
        if not samples:
            if found and not allowed:
                self.report.add("blocked", f"robots.txt disallows all {found} article URLs found: the crawl will "
                                           "index nothing from this outlet")
            elif allowed:
                self.report.add("warning", "no sample article was fetched: the request budget was spent on discovery")
            return
        good = [s for s in samples if s.error is None]
        failed = [s for s in samples if s.error is not None and not s.error.startswith("blocked")]
        content = [s for s in failed if (s.error or "").split(":")[0] in ("no_text", "not_html", "empty", "unparseable")]
        if failed and not good:
            level = "config" if len(content) == len(failed) else "warning"
            fix = ("check that article_pattern matches article pages only, or set extraction.body_selector"
                   if level == "config" else None)
            self.report.add(level, f"no sample article could be extracted: {failed[0].url}: {failed[0].error}", fix,
                            "article_pattern" if level == "config" else None)
        elif failed:
            self.report.add("warning", f"{len(failed)} of {len(samples)} sample articles failed: {failed[0].url}: "
                                       f"{failed[0].error}")
        for s in good:
            if not s.matches_pattern:
                continue
            if s.published_at is None:
                self.report.add("warning", f"no publication date found in {s.url}",
                                "set extraction.date_selector (and date_convention) for this outlet", "extraction")
            if self.outlet.language and s.lang and s.lang != self.outlet.language:
                self.report.add("warning", f"{s.url} reads as {s.lang}, the outlet's language is "
                                           f"{self.outlet.language}", "check language, or the page's text extraction")
            if s.text_chars < SHORT_TEXT:
                self.report.add("warning", f"only {s.text_chars} characters of text extracted from {s.url}",
                                "the body may be cut: check extraction.body_selector", "extraction")
            for w in s.warnings:
                if "selector" in w or "metadata" in w or "JSON" in w:
                    self.report.add("warning", f"{s.url}: {w}", "the page layout may have changed; update the "
                                                                "outlet's extraction hints", "extraction")

