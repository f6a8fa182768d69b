"""The learned half of tagging: the logistic regression, the grouped folds, the weights file and
the explanation of a decision, and `raqib tag train` refitting them.

Articles and labels: tests/data/tagging/ (real corpus articles, their corpus labels)."""
import json
import math
import pathlib
import random
import shutil

import pytest
import yaml

from pipelines import topic_model
from pipelines import topic_training as tt
from pipelines.configfile import ConfigError
from pipelines.tagging import feature_names, load_tagger

DATA = pathlib.Path(__file__).parent / "data" / "tagging"
ARTICLES = {a["id"]: a for a in map(json.loads, (DATA / "articles.jsonl").read_text(encoding="utf-8").splitlines())}
TOPICS = ("isis", "syria", "us_presence")
SHIPPED = pathlib.Path(__file__).parent.parent / "config"


@pytest.fixture(scope="module")
def tagger():
    return load_tagger()


# --- the regression -----------------------------------------------------------------------

def test_fit_recovers_which_features_matter_and_their_sign():
    rng = random.Random(7)
    rows, ys = [], []
    for _ in range(400):
        x = [rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)]
        z = 2.0 * x[0] - 1.5 * x[1] + 0.0 * x[2] - 0.5
        rows.append(x)
        ys.append(1 if rng.random() < 1 / (1 + math.exp(-z)) else 0)
    model = topic_model.fit(rows, ys, ["up", "down", "noise"], l2=1.0)
    up, down, noise = model.coef
    assert up > 1.0 and down < -0.8 and abs(noise) < 0.4
    # a contribution is the coefficient times the standardised value, and they add up to the logit
    x = [1.0, -1.0, 0.3]
    assert model.logit(x) == pytest.approx(model.bias + sum(model.contributions(x)))


def test_fit_stays_finite_when_one_feature_separates_the_classes():
    rows = [[float(i), 0.0] for i in range(40)]
    ys = [1 if i >= 20 else 0 for i in range(40)]
    model = topic_model.fit(rows, ys, ["separates", "constant"], l2=0.5)
    assert all(math.isfinite(c) for c in model.coef) and model.coef[1] == 0.0
    assert [model.probability(r) >= 0.5 for r in rows] == [bool(y) for y in ys]


def test_threshold_is_the_best_f1_and_honours_a_precision_floor():
    probs = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
    gold = [1, 1, 0, 1, 1, 0, 0, 0]
    best = topic_model.fit_threshold(probs, gold)
    assert 0.3 < best < 0.4                                   # all four positives, one false alarm
    strict = topic_model.fit_threshold(probs, gold, min_precision=1.0)
    assert 0.7 < strict < 0.8                                 # only the two sure ones


# --- folds ------------------------------------------------------------------------------------

def test_near_copies_share_a_group_and_folds_keep_groups_whole_and_stratified():
    original = ARTICLES["snn-alweeam-2015-07-31-1668"]
    copy = dict(original, id="copy", title="عنوان آخر للخبر نفسه",
                text="الرياض - واس\n" + original["text"] + "\nاقرأ المزيد على موقعنا")
    articles = {**ARTICLES, "copy": copy}
    groups = tt.duplicate_groups(articles, sorted(articles))
    assert groups["copy"] == groups["snn-alweeam-2015-07-31-1668"]
    assert len(set(groups.values())) == len(articles) - 1

    labels = {i: {"isis": int(n % 3 == 0), "syria": int(n % 2 == 0), "us_presence": 0}
              for n, i in enumerate(sorted(articles))}
    items = [tt.Example(id=i, lang="ar", labels=labels[i], features={}, rule_passed={}, keyword_count={})
             for i in sorted(articles)]
    for seed in range(3):
        split = tt.folds(items, groups, 3, seed)
        assert sorted(n for fold in split for n in fold) == list(range(len(items)))
        where = {items[n].id: f for f, fold in enumerate(split) for n in fold}
        assert where["copy"] == where["snn-alweeam-2015-07-31-1668"]
        for fold in split:   # every fold has its share of syria
            assert 1 <= sum(items[n].labels["syria"] for n in fold) <= 3


def test_outlet_folds_hold_whole_outlets_and_their_copies_elsewhere_out_of_training():
    original = ARTICLES["snn-alweeam-2015-07-31-1668"]
    copy = dict(original, id="copy", outlet="elsewhere", text="الرياض - واس\n" + original["text"])
    articles = {**ARTICLES, "copy": copy}
    ids = sorted(articles)
    copies = tt.duplicate_groups(articles, ids)
    outlets = tt.outlet_groups(articles, ids)
    assert len(set(outlets.values())) == len({a["outlet"] for a in articles.values()})
    assert outlets["copy"] != outlets["snn-alweeam-2015-07-31-1668"]
    items = [tt.Example(id=i, lang="ar", labels={"isis": n % 2}, features={}, rule_passed={}, keyword_count={})
             for n, i in enumerate(ids)]
    apart = 0
    for seed in range(4):
        trained: list[set[str]] = []

        def method(train, topic):
            trained.append({ex.id for ex in train})
            return lambda ex: False
        tt.cross_validate(items, outlets, ["isis"], method, k=3, repeats=1, seed=seed, copies=copies)
        for train, fold in zip(trained, tt.folds(items, outlets, 3, seed), strict=True):
            test = {items[n].id for n in fold}
            assert not {articles[i]["outlet"] for i in train} & {articles[i]["outlet"] for i in test}
            assert not {copies[i] for i in train} & {copies[i] for i in test}
            assert len(train) + len(test) >= len(ids) - 1     # at most the copy's twin is left out besides the fold
            apart += ("copy" in test) != ("snn-alweeam-2015-07-31-1668" in test)
    assert apart                                              # the twins sat in different folds at least once


# --- the shipped weights ------------------------------------------------------------------

def test_shipped_weights_fit_the_shipped_rules_and_say_where_they_came_from(tagger):
    weights = topic_model.read_weights(SHIPPED / "topic_weights.json")
    assert set(weights.topics) == set(TOPICS) and set(tagger.models) == set(TOPICS)
    for topic in tagger.topics:
        assert list(weights.topics[topic.name].features) == feature_names(topic, tagger.topics)
    p = weights.provenance
    assert p["fitted_at"][:2] == "20" and p["data"]["labels"] >= 500
    for t in TOPICS:   # cross-validated figures, with their spread
        assert 0 < p["cv"]["topics"][t]["f1"] <= 1 and "f1_sd" in p["cv"]["topics"][t]


def test_explanation_adds_up_to_the_decision_and_points_at_the_sentences(tagger):
    a = ARTICLES["snn-alweeam-2015-07-31-1668"]
    out = tagger(a["title"], a["text"])
    assert set(out["topics"]) == set(TOPICS)
    for t in TOPICS:
        e = out["topic_evidence"][t]
        assert e["decided_by"] == "weights" and e["passed"] and e["value"] >= e["threshold"]
        logit = e["bias"] + sum(c["contribution"] for c in e["contributions"])
        assert 1 / (1 + math.exp(-logit)) == pytest.approx(e["value"], abs=0.01)
        assert out["topic_scores"][t] == pytest.approx(e["value"] / e["threshold"], abs=0.01)
        for s in e["sentences"]:
            source = a["title"] if s["zone"] == "title" else a["text"]
            sentence = source[s["start"]:s["end"]]
            assert all(term in sentence for term in s["terms"]), (sentence, s["terms"])
    json.dumps(out["topic_evidence"])   # stored as it is


def test_weights_fitted_to_other_rules_are_a_clear_configuration_error(tmp_path):
    rules = yaml.safe_load((SHIPPED / "topics.yaml").read_text(encoding="utf-8"))
    rules["topics"]["syria"]["clues"][0]["name"] = "renamed clue"
    (tmp_path / "topics.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    shutil.copy(SHIPPED / "topic_weights.json", tmp_path / "topic_weights.json")
    with pytest.raises(ConfigError) as exc:
        load_tagger(tmp_path)
    assert "topic_weights.json" in str(exc.value) and "clue:renamed clue" in str(exc.value)
    assert "raqib tag train" in str(exc.value)
    (tmp_path / "topic_weights.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_tagger(tmp_path)
    (tmp_path / "topic_weights.json").unlink()   # no weights beside the rules: the rule thresholds decide
    plain = load_tagger(tmp_path)
    a = ARTICLES["fakes-1965511122"]
    assert plain(a["title"], a["text"])["topic_evidence"]["isis"]["decided_by"] == "rules"


# --- raqib tag train --------------------------------------------------------------------------

def _current(path, f1):
    data = json.loads((SHIPPED / "topic_weights.json").read_text(encoding="utf-8"))
    for t in TOPICS:
        data["provenance"]["cv"]["topics"][t]["f1"] = f1
    path.write_text(json.dumps(data), encoding="utf-8")


def test_train_writes_weights_with_their_cv_figures(raqib, tmp_path):
    out = tmp_path / "w.json"
    code, stdout, err = raqib("tag", "train", str(DATA / "labels.jsonl"), "--out", str(out), "--repeats", "1")
    assert code == 0, err
    assert "before" in stdout and "after" in stdout and "keywords" in stdout
    weights = topic_model.read_weights(out)
    assert set(weights.topics) == set(TOPICS)
    assert weights.provenance["data"]["labels"] == 10 and weights.provenance["cv"]["repeats"] == 1
    # the written weights are the ones a tagger with these rules can use
    tagger = load_tagger(use_weights=False)
    tagger.use_weights(weights)
    assert set(tagger.models) == set(TOPICS)


def test_train_refits_weights_that_no_longer_fit_renamed_rules(raqib, tmp_path):
    # A renamed clue makes the weights in use unusable (every other command says so); train is
    # what replaces them, so it must run.
    rules = yaml.safe_load((SHIPPED / "topics.yaml").read_text(encoding="utf-8"))
    rules["topics"]["syria"]["clues"][0]["name"] = "renamed clue"
    (tmp_path / "topics.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    shutil.copy(SHIPPED / "entities.yaml", tmp_path / "entities.yaml")
    shutil.copy(SHIPPED / "topic_weights.json", tmp_path / "topic_weights.json")
    code, _, err = raqib("--config", str(tmp_path), "tag", "train", str(DATA / "labels.jsonl"), "--repeats", "1")
    assert code == 0, err
    assert "clue:renamed clue" in topic_model.read_weights(tmp_path / "topic_weights.json").topics["syria"].features
    load_tagger(tmp_path)   # the rules and their new weights agree


def test_train_refuses_weights_that_cross_validate_worse_unless_forced(raqib, tmp_path):
    # Labels an analyst got wrong: us_presence swapped between two real cases and two ordinary
    # news stories, so no weights can tell them apart and the CV F1 falls below a perfect one.
    rows = [json.loads(line) for line in (DATA / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    swap = {"snn-alweeam-2015-07-31-1668", "snn-alriyadh-2015-07-31-1270", "snn-sabq-2015-08-06-3124", "bbc-train-0571"}
    for r in rows:
        if r["id"] in swap:
            r["us_presence"] = 1 - r["us_presence"]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ("tag", "train", str(labels), "--articles", str(DATA / "articles.jsonl"), "--out")
    out = tmp_path / "w.json"
    _current(out, 1.0)                       # the weights in use were written with a perfect CV F1
    before = out.read_text(encoding="utf-8")
    code, stdout, err = raqib(*args, str(out), "--repeats", "1")
    assert code == 1 and "not written" in err and "us_presence" in err and "--force" in err
    assert out.read_text(encoding="utf-8") == before
    code, _, err = raqib(*args, str(out), "--repeats", "1", "--force")
    assert code == 0, err
    assert out.read_text(encoding="utf-8") != before


def test_train_names_the_bad_lines_of_a_labels_file(raqib, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id": "a", "isis": 1, "syria": 0, "us_presence": 0}\n{oops\n'
                      '{"id": "b", "isis": 2, "syria": 0}\n', encoding="utf-8")
    (tmp_path / "articles.jsonl").write_text("", encoding="utf-8")
    code, _, err = raqib("tag", "train", str(labels))
    assert code == 2 and "Traceback" not in err
    assert "line 2: not JSON" in err and "line 3: isis, us_presence must be 0 or 1" in err
    labels.write_text('{"id": "missing", "isis": 1, "syria": 0, "us_presence": 0}\n', encoding="utf-8")
    code, _, err = raqib("tag", "train", str(labels))
    assert code == 2 and "not in it" in err and "--articles" in err


# --- the features ---------------------------------------------------------------------------

def _features(tagger, text):
    doc, results = tagger.explain("", text)
    return {r.topic.name: r.features for r in results}["syria"]


def test_one_substantive_passage_outweighs_the_same_mentions_scattered(tagger):
    filler = "The weather was mild and the markets were quiet."
    on_syria = ["Rebels took a village near Aleppo.", "Shelling hit Homs overnight.", "Fighting spread in Idlib."]
    together = " ".join([filler] * 6 + on_syria + [filler] * 6)
    scattered = " ".join(s for part in on_syria for s in (part, filler, filler, filler, filler))
    close, apart = _features(tagger, together), _features(tagger, scattered)
    assert close["sentences"] == apart["sentences"] == math.log1p(3)      # the same evidence...
    assert close["best_passage"] == math.log1p(3) and apart["best_passage"] == math.log1p(1)


def test_evidence_that_opens_its_sentence_counts_as_its_subject(tagger):
    subject = "Aleppo was shelled again. Homs saw heavy fighting. Idlib is under siege."
    tail = ("The minister spoke at length about the economy in Aleppo. The bank cut its rates, as it did "
            "in Homs. Analysts were sombre about trade with Idlib.")
    first, last = _features(tagger, subject), _features(tagger, tail)
    assert first["sentences"] == last["sentences"] == math.log1p(3)
    assert first["up_front"] == math.log1p(3) and last["up_front"] == 0.0


def test_the_weights_meet_each_feature_by_name_whatever_order_the_rules_write_them(tagger, monkeypatch):
    """The features are a dict and the weights a list of names: a feature written in another
    order once applied the shipped weights to the wrong features (syria lost on every seed)."""
    from pipelines import tagging

    article = next(iter(ARTICLES.values()))

    def probabilities():
        return [(r.topic.name, r.probability) for r in tagger.explain(article.get("title"), article["text"])[1]]

    before = probabilities()
    written = tagging.topic_features
    monkeypatch.setattr(tagging, "topic_features",
                        lambda *a, **k: dict(reversed(list(written(*a, **k).items()))))
    assert probabilities() == before and all(p is not None for _, p in before)
