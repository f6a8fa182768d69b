"""Topic tagging on real articles: what it must tag, the traps it must not fall into, and the
rule file's validation. Articles: tests/data/tagging/articles.jsonl (sources in its README)."""
import json
import pathlib

import pytest
import yaml

from pipelines.configfile import ConfigError
from pipelines.entities import load_gazetteer
from pipelines.tagging import default_tagger, load_tagger, parse_tagger
from pipelines.terms import Lexicon, TermSet, Text, parse_term

DATA = pathlib.Path(__file__).parent / "data" / "tagging"
ARTICLES = {a["id"]: a for a in map(json.loads, (DATA / "articles.jsonl").read_text(encoding="utf-8").splitlines())}
TOPICS = {"isis", "syria", "us_presence"}


@pytest.fixture(scope="module")
def tagger():
    return load_tagger()


def tag(tagger, art_id):
    a = ARTICLES[art_id]
    return tagger(a["title"], a["text"], a["lang"])


# --- what must be tagged -----------------------------------------------------------------

def test_coalition_strikes_on_daesh_in_syria_carry_all_three_topics(tagger):
    out = tag(tagger, "snn-alweeam-2015-07-31-1668")
    assert set(out["topics"]) == TOPICS
    # every tag is explained by the terms that fired, as written in the article
    assert "داعش" in out["matches"]["isis"]
    assert "التحالف الدولي" in out["matches"]["us_presence"]
    assert "دير الزور" in out["matches"]["syria"]
    assert all(out["topic_scores"][t] >= 1.0 for t in TOPICS)


def test_us_planes_at_incirlik_against_daesh_is_us_presence(tagger):
    out = tag(tagger, "snn-aleqtisadiya-2015-08-06-0445")
    assert set(out["topics"]) == TOPICS
    assert any("إنجيرليك" in m for m in out["matches"]["us_presence"])


def test_us_trained_rebels_attacked_by_nusra_is_syria_and_us_but_not_isis(tagger):
    # ISIS appears once, as the rebels' intended target: a passing mention
    out = tag(tagger, "snn-alriyadh-2015-07-31-1270")
    assert set(out["topics"]) == {"syria", "us_presence"}
    assert 0 < out["topic_scores"]["isis"] < 1.0


def test_english_report_kurds_against_isil_in_hasakah(tagger):
    out = tag(tagger, "fakes-1965511122")
    assert set(out["topics"]) == {"isis", "syria"}
    assert "ISIL" in out["matches"]["isis"]


# --- the traps -----------------------------------------------------------------------------

def test_us_drone_strike_in_yemen_is_not_us_presence(tagger):
    out = tag(tagger, "snn-alweeam-2015-07-31-1538")
    assert out["topics"] == []
    assert "United States" in out["entities"]["actors"]    # the US is named, just not in this war


def test_syrian_national_coalition_is_the_opposition_not_the_us_led_coalition(tagger):
    out = tag(tagger, "fakes-1926479178")
    assert out["topics"] == ["syria"]
    assert "Syrian National Coalition" in out["entities"]["actors"]
    assert "US-led coalition" not in out["entities"]["actors"]
    assert not any("Coalition" in m for m in out["matches"].get("us_presence", []))


def test_saudi_led_coalition_in_yemen_with_syria_in_passing_tags_nothing(tagger):
    out = tag(tagger, "snn-almadina-2015-07-23-0495")
    assert out["topics"] == []
    assert "US-led coalition" not in out["entities"]["actors"]
    # Syria is mentioned (a sentence on the Syrian file, a list of countries) but stays below the bar
    assert 0 < out["topic_scores"]["syria"] < 1.0


def test_raqqa_district_of_kuwait_is_not_syria(tagger):
    out = tag(tagger, "snn-3alyoum-2015-08-04-0046")
    assert "syria" not in out["topics"]
    assert "Raqqa" not in out["entities"]["places"]
    assert "Riqqa (Kuwait)" in out["entities"]["places"]


def test_passing_mention_is_not_a_topic():
    """One sentence about Syria in an article on Yemen scores one sentence, never a tag."""
    tagger = load_tagger()
    title = "طيران التحالف يشن غارات على مواقع الحوثيين في تعز"
    text = ("شن طيران التحالف غارات على مواقع للحوثيين في محافظة تعز اليوم.\n"
            "وقال مصدر إن الغارات استهدفت مخازن أسلحة.\n"
            "وكانت الأمم المتحدة قد دعت إلى هدنة في سوريا الأسبوع الماضي.\n"
            "وتستمر المعارك في تعز منذ أشهر.")
    out = tagger(title, text)
    assert out["topics"] == []
    assert out["topic_scores"]["syria"] > 0        # seen, counted, and below the bar


@pytest.mark.parametrize("art_id", ["snn-sabq-2015-08-06-3124", "bbc-train-0571"])
def test_ordinary_news_and_uk_counter_terrorism_tag_nothing(tagger, art_id):
    out = tag(tagger, art_id)
    assert out["topics"] == []
    assert out["matched_terms"] == []


def test_output_has_every_field_the_index_expects(tagger):
    out = tag(tagger, "snn-alweeam-2015-07-31-1668")
    assert set(out) == {"topics", "topic_scores", "matches", "matched_terms", "topic_evidence", "entities", "locations"}
    from pipelines.index import mapping
    assert set(out) <= set(mapping()["properties"])   # the index is strict: every field is mapped
    assert all(isinstance(terms, list) and all(isinstance(x, str) for x in terms) for terms in out["matches"].values())
    assert set(out["topic_scores"]) == TOPICS       # every topic scored, passed or not
    assert out["matched_terms"] and len(out["matched_terms"]) == len(set(out["matched_terms"]))
    assert all(set(loc) == {"lat", "lon"} for loc in out["locations"])


def test_empty_input_tags_nothing(tagger):
    out = tagger("", "", None)
    assert out["topics"] == [] and out["matches"] == {} and out["locations"] == []


def test_default_tagger_is_compiled_once_and_follows_the_config_dir(tmp_path):
    assert default_tagger() is default_tagger()
    rules = yaml.safe_load(pathlib.Path("config/topics.yaml").read_text(encoding="utf-8"))
    rules["topics"]["syria"]["threshold"] = 1000.0
    (tmp_path / "topics.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    strict = default_tagger(tmp_path)
    assert strict is not default_tagger()
    a = ARTICLES["snn-alweeam-2015-07-31-1668"]
    assert "syria" not in strict(a["title"], a["text"])["topics"]


# --- the rule language ----------------------------------------------------------------------

def _find(terms, title, text=""):
    ts = TermSet()
    for t in terms:
        ts.add(parse_term(t), t)
    doc = Text(title, text)
    return [(h.key, doc.span_text(h.first, h.last)) for h in ts.find(doc)]


def test_term_syntax_proclitics_article_wildcard_and_case():
    text = "قال إن الأمريكيين وبالرقة وفاسد. IS is here, and the US told us"
    found = _find(["امريك*", "الرقة", "الاسد", "=IS", "=US"], text)
    assert ("امريك*", "الأمريكيين") in found
    assert ("الرقة", "وبالرقة") in found
    assert not any(k == "الاسد" for k, _ in found)            # «فاسد» is not «الأسد»
    assert [s for k, s in found if k == "=IS"] == ["IS"]       # never the verb
    assert [s for k, s in found if k == "=US"] == ["US"]       # never the pronoun


def test_phrases_never_run_from_the_title_into_the_text():
    assert _find(["الولايات المتحدة"], "الولايات", "المتحدة تعلن") == []
    assert _find(["الولايات المتحدة"], "", "أعلنت الولايات المتحدة") == [("الولايات المتحدة", "الولايات المتحدة")]


def test_us_abbreviation_does_not_end_a_sentence():
    doc = Text("", "U.S. troops arrived in Syria. They left.")
    words = {t.norm: t.sentence for t in doc.tokens}
    assert words["troops"] == words["syria"] != words["they"]


def test_not_unless_and_only_near_void_homonyms():
    from pipelines.terms import Concept, Near

    raqqa = Concept("raqqa", (parse_term("الرقة"),), not_terms=(parse_term("بالرحمة والرقة"),),
                    unless_near=Near("sentence", (parse_term("الكويت"),)))
    palmyra = Concept("palmyra", (parse_term("تدمر"),), only_near=Near(3, (parse_term("مدينة"),)))
    lex = Lexicon([raqqa, palmyra])
    assert "raqqa" in lex.find(Text("", "غارات على الرقة في سوريا"))
    assert "raqqa" not in lex.find(Text("", "يقيم في الكويت في منطقة الرقة"))
    assert "raqqa" not in lex.find(Text("", "وصفن بالرحمة والرقة"))
    assert "palmyra" in lex.find(Text("", "دخلوا مدينة تدمر"))
    assert "palmyra" not in lex.find(Text("", "الحرب تدمر المنازل"))


# --- validation: every problem at once -----------------------------------------------------

def test_a_bad_rule_file_reports_every_problem_at_once():
    bad = {
        "settings": {"zones": {"title": "high", "middle": 2}},
        "concepts": {"oops": {"ar": ["ام*"], "de": ["x"]}},
        "topics": {
            "isis": {"threshold": 0, "clues": [{"any": ["actor:ISSI"], "weight": 1}], "colour": "red"},
            "Syria": {"threshold": 1, "clues": []},
            "us_presence": {"threshold": 2, "requires_any": ["nothing"],
                            "clues": [{"all": [["oops"]], "weight": 1}, {"any": ["oops"], "all": [], "weight": 1}]},
        },
    }
    with pytest.raises(ConfigError) as exc:
        parse_tagger(bad, load_gazetteer(), "topics.yaml")
    text = str(exc.value)
    for expected in (
        "settings.zones.title: expected a number",
        "settings.zones.middle: unknown key",
        "concepts.oops.ar[0]: 'ام*': a wildcard needs at least 3 letters",
        "concepts.oops.de: unknown key",
        "topics.isis.threshold: expected a number",
        "topics.isis.clues[0].any[0]: unknown reference 'actor:ISSI'; actors: ISIS",
        "topics.isis.colour: unknown key",
        "topics.Syria: a topic name is lower-case",
        "topics.us_presence.requires_any[0]: 'nothing' is not another topic",
        "topics.us_presence.clues[0].all: expected a list of at least two groups",
        "topics.us_presence.clues[1]: give exactly one of any",
    ):
        assert expected in text, (expected, text)
    assert len(exc.value.problems) >= 11


def test_the_shipped_rules_are_valid_and_cover_the_three_topics(tagger):
    assert {t.name for t in tagger.topics} == TOPICS
    for topic in tagger.topics:
        assert topic.description and topic.min_sentences >= 2   # never one sentence alone
