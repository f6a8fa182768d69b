"""`raqib seed` and `raqib search` end to end through the CLI, on the real node."""
import json


def _count(es, alias, **query):
    es.indices.refresh(index=alias)
    return es.count(index=alias, query=query or {"match_all": {}}).body["count"]


def test_seeding_twice_leaves_exactly_five_seed_documents(raqib, es, alias):
    code, out, _ = raqib("seed")
    assert code == 0 and "5 new" in out
    code, out, _ = raqib("seed")
    assert code == 0 and "5 unchanged" in out
    assert _count(es, alias, term={"seed": True}) == 5
    assert _count(es, alias) == 5


def test_seed_documents_carry_outlet_title_author_date_and_language(raqib, es, alias):
    raqib("seed")
    hits = es.search(index=alias, size=10).body["hits"]["hits"]
    docs = {h["_source"]["outlet"]: h["_source"] for h in hits}
    assert set(docs) == {"alittihad", "almarjie", "noonpost", "strategic_observatory", "almayadeen"}
    assert docs["almarjie"]["author"] == "مصطفى كامل"
    assert docs["almarjie"]["published_at"].startswith("2021-04-04T10:20:00+02:00")
    assert docs["strategic_observatory"]["published_at"].startswith("2017-12-15")
    assert all(d["lang"] == "ar" and d["seed"] is True and d["discovered_via"] == "seed" for d in docs.values())
    # the outlet's boilerplate rules applied to the seed text, as they are to crawled pages
    assert "ad a b" not in docs["almarjie"]["text"]
    assert "المشاهدات" not in docs["strategic_observatory"]["text"]


def test_search_without_hamza_finds_the_seeds_spelled_with_it(raqib):
    raqib("seed")
    code, out, _ = raqib("search", "الامريكية", "--json")
    assert code == 0
    hits = [json.loads(line) for line in out.splitlines()]
    spelled_with_hamza = {"alittihad", "almarjie", "noonpost", "strategic_observatory"}
    assert spelled_with_hamza <= {h["outlet"] for h in hits}
    # the highlight marks the spelling in the text, not the normalised form
    assert any("<em>الأمريكية</em>" in s for h in hits for s in h["highlights"])


def test_search_filters_and_human_output(raqib):
    raqib("seed")
    code, out, _ = raqib("search", "داعش", "--outlet", "almayadeen")
    assert code == 0
    assert out.startswith("1 article match")
    assert "[داعش]" in out or "\x1b[1;33mداعش" in out


def test_anything_a_user_types_is_a_valid_query(raqib):
    raqib("seed")
    for query in ['"unbalanced', "(", "*", "\\", "a AND OR", "-", "||", "داعش)"]:
        code, _, err = raqib("search", query)
        assert code == 0, (query, err)


def test_bad_since_is_a_clear_error(raqib):
    code, _, err = raqib("search", "x", "--since", "yesterday-ish")
    assert code == 2 and "--since expects a date" in err


def test_an_actor_is_found_under_any_of_its_names(raqib, es, alias):
    """«داعش» also finds an article that only says «تنظيم الدولة» (through the tagger's
    entities); a query that says more than names stays a plain text search."""
    from pipelines import document
    from pipelines.index import bulk_index, ensure_index

    ensure_index(es, alias)
    article = {"outlet": "test", "title": "هجوم جديد لتنظيم الدولة في البادية",
               "text": "أعلن تنظيم الدولة مسؤوليته عن الهجوم على حافلة قرب تدمر. وقال مصدر إن عناصر التنظيم انسحبوا."}
    doc = document.enrich(article, lang_hint="ar", tagger=document.default_tagger())
    assert "داعش" not in doc["text"] and "ISIS" in doc["entities"]["actors"]
    bulk_index(es, [("isis-alias", doc)], alias, refresh=True)

    code, out, _ = raqib("search", "داعش", "--json")
    assert code == 0 and "isis-alias" in {json.loads(l)["id"] for l in out.splitlines()}
    code, out, _ = raqib("search", "داعش", "ميلاد", "--json")
    assert code == 0 and "isis-alias" not in {json.loads(l)["id"] for l in out.splitlines()}


def test_a_story_republished_by_other_outlets_is_one_hit_that_names_its_copies(raqib, es, alias):
    """An original and its copies (`duplicate_of`, as the crawl's dedupe step writes it): one
    hit, listing the other outlets' copies, also the copy that does not say the word searched."""
    from pipelines import document
    from pipelines.index import bulk_index, ensure_index

    ensure_index(es, alias)
    story = ("قال مسؤول إن قافلة زمردية عبرت معبر اليعربية نحو الحسكة. "
             "وأضاف أن القوات الأمريكية رافقت القافلة حتى قاعدة الشدادي.")
    articles = {
        "orig": ("alpha", "قافلة زمردية تعبر إلى الحسكة", story, None),
        "copy1": ("beta", "قافلة زمردية تعبر إلى الحسكة", story, "orig"),
        "copy2": ("gamma", "قافلة تصل الشدادي", story.replace("زمردية ", ""), "orig"),
        "other": ("alpha", "زمردية في الأسواق", "افتتح معرض للأحجار الكريمة في دمشق وفيه زمردية نادرة.", None),
    }
    docs = []
    for doc_id, (outlet, title, text, original) in articles.items():
        doc = document.enrich({"outlet": outlet, "title": title, "text": text, "url": f"https://{outlet}.example/{doc_id}"},
                              lang_hint="ar", tagger=document.default_tagger())
        if original:
            doc["duplicate_of"] = original
        docs.append((doc_id, doc))
    bulk_index(es, docs, alias, refresh=True)

    code, out, _ = raqib("search", "زمردية", "--json")
    hits = {h["id"]: h for h in map(json.loads, out.splitlines())}
    assert code == 0 and set(hits) == {"orig", "other"}
    assert {c["id"] for c in hits["orig"]["copies"]} == {"copy1", "copy2"}
    assert {c["outlet"] for c in hits["orig"]["copies"]} == {"beta", "gamma"} and hits["other"]["copies"] == []

    code, out, _ = raqib("search", "زمردية", "--all-copies", "--json")
    assert code == 0 and {json.loads(line)["id"] for line in out.splitlines()} == {"orig", "copy1", "other"}

    # only a copy says it: the copy is the hit, and it names the original and the other copy
    code, out, _ = raqib("search", "الشدادي", "تصل", "--json")
    [hit] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and hit["id"] == "copy2" and {c["id"] for c in hit["copies"]} == {"orig", "copy1"}

    code, out, _ = raqib("search", "زمردية")
    assert code == 0 and "4 articles" not in out and "3 articles match" in out
    assert "also: beta · https://beta.example/copy1" in out and "also: gamma · https://gamma.example/copy2" in out


def test_search_sizes_and_query_length_are_bounded_with_the_limit_said(raqib):
    raqib("seed")
    for size in ("10001", "-5", "0"):
        code, out, err = raqib("search", "داعش", "-n", size)
        assert code == 2 and out == ""
        assert err.startswith("raqib search: -n must be between 1 and 10,000 (Elasticsearch returns at most") , err
    code, out, err = raqib("search", *(["كلمة"] * 5000))
    assert code == 2 and out == ""
    assert "the query is too long (5,000 words, 24,999 characters); a search takes at most 100 words" in err
    code, out, err = raqib("search", "-n", "10000", *(f"كلمة{i}" for i in range(100)))   # at the limits: sent
    assert code == 0 and out.startswith("0 articles match"), err


def test_unknown_outlet_or_topic_names_the_known_ones(raqib):
    raqib("seed")
    code, out, err = raqib("search", "داعش", "--outlet", "nosuch", "--topic", "isis", "--topic", "isil")
    assert code == 2 and out == ""
    assert ("raqib search: no outlet named 'nosuch'; known outlets: alittihad, almarjie, almayadeen, noonpost, "
            "strategic_observatory; no topic named 'isil'; known topics: isis, syria, us_presence") in err


def test_a_stray_bracket_quote_or_asterisk_loses_no_document_and_is_said(raqib):
    raqib("seed")
    code, plain, _ = raqib("search", "داعش", "--seeds", "--json")
    assert code == 0 and len(plain.splitlines()) == 5
    for typed, left_out in [("(داعش", "a stray «(»"), ("داعش)", "a stray «)»"), ('"داعش', 'an unmatched «"»'),
                            ("* داعش", "a stray «*»")]:
        code, out, err = raqib("search", typed, "--seeds", "--json")
        assert code == 0 and out == plain, typed           # before: «(داعش» found fewer, «**» none
        assert err == f"raqib search: left out {left_out}; searched for: داعش\n"
    code, out, err = raqib("search", "**", "--seeds")
    assert code == 0 and out.startswith("5 articles match")
    assert err == "raqib search: left out a stray «*»; searched for: (no word left: the newest articles)\n"
    code, out, err = raqib("search", "داع*", "--seeds", "--json")   # a prefix is an operator, kept
    assert code == 0 and err == "" and len(out.splitlines()) == 5
