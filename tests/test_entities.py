"""Actors and places with coordinates, on real sentences (tests/data/tagging/sentences.yaml)."""
import pathlib

import pytest
import yaml

from pipelines.configfile import ConfigError
from pipelines.entities import load_gazetteer, parse_gazetteer
from pipelines.tagging import load_tagger

SENTENCES = yaml.safe_load(
    (pathlib.Path(__file__).parent / "data" / "tagging" / "sentences.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tagger():
    return load_tagger()


def entities(tagger, key):
    out = tagger("", SENTENCES[key]["text"])
    return out["entities"], out["locations"]


def test_seed_sentence_names_the_us_the_sdf_and_syria(tagger):
    ents, _ = entities(tagger, "seed_001_lead")
    assert {"United States", "SDF"} <= set(ents["actors"])
    assert "Syria" in ents["places"]


def test_isis_under_its_full_arabic_name(tagger):
    ents, _ = entities(tagger, "isis_full_name")
    assert {"ISIS", "Free Syrian Army"} <= set(ents["actors"])


def test_raqqa_and_hasakah_with_their_coordinates(tagger):
    ents, locations = entities(tagger, "raqqa_city")
    assert set(ents["places"]) == {"Hasakah", "Raqqa", "Syria"}
    # the country's own point is left out when towns in it are named
    assert {"lat": 35.95283, "lon": 39.00788} in locations
    assert {"lat": 36.50237, "lon": 40.74772} in locations
    assert len(locations) == 2


def test_raqqa_in_kuwait_is_the_kuwaiti_district(tagger):
    ents, locations = entities(tagger, "kuwait_riqqa")
    assert ents["places"] == ["Riqqa (Kuwait)"]
    assert locations == [{"lat": 29.14583, "lon": 48.09472}]


@pytest.mark.parametrize("key", ["raqqa_tenderness", "class_not_tabqa", "badia_bedouin"])
def test_homonyms_in_prose_are_not_places(tagger, key):
    # «بالرحمة والرقة» tenderness; «الطبقة السياسية» the political class; «ترعرع في البادية» the desert
    ents, locations = entities(tagger, key)
    assert not set(ents["places"]) & {"Raqqa", "Tabqa", "Syrian Desert"}
    assert not any(35 < loc["lon"] < 42 for loc in locations)


@pytest.mark.parametrize("key,place", [("badia_syrian", "Syrian Desert"), ("hol_camp", "Al-Hol camp"),
                                       ("palmyra", "Palmyra")])
def test_the_same_words_in_syrian_context_are_places(tagger, key, place):
    ents, locations = entities(tagger, key)
    assert place in ents["places"]
    assert locations


def test_every_place_has_valid_coordinates_and_syria_is_covered():
    g = load_gazetteer()
    for place in g.places.values():
        assert -90 <= place.lat <= 90 and -180 <= place.lon <= 180
        if place.country == "SY":
            # inside Syria's bounding box (the Golan included)
            assert 32.3 <= place.lat <= 37.4 and 35.6 <= place.lon <= 42.4, place.name
    assert {"Raqqa", "Deir ez-Zor", "Hasakah", "Abu Kamal", "Palmyra", "Tanf", "Al-Hol camp", "Syrian Desert"} <= set(g.places)
    assert {"ISIS", "SDF", "US-led coalition", "HTS", "Syrian government", "Russia", "Iran", "Turkey"} <= set(g.actors)


def test_a_bad_gazetteer_reports_every_problem_at_once():
    bad = {
        "actors": {"X": {"ar": ["داعش"], "colour": "black"}, "Y": {"kind": "group"}},
        "places": {
            "Nowhere": {"kind": "city", "country": "Syria", "lat": 95, "lon": 40, "ar": ["لا"]},
            "Vague": {"kind": "planet", "country": "SY", "ar": ["مكان"],
                      "ambiguous": [{"ar": ["كلمة"]}]},
        },
    }
    with pytest.raises(ConfigError) as exc:
        parse_gazetteer(bad, "entities.yaml")
    text = str(exc.value)
    for expected in (
        "actors.X.colour: unknown key",
        "actors.Y: has no terms",
        "places.Nowhere.country: expected a two-letter ISO country code",
        "places.Nowhere.lat: expected a number between -90 and 90, got 95",
        "places.Vague.lat: is required",
        "places.Vague.kind: expected one of",
        "places.Vague.ambiguous[0]: an ambiguous name needs not, unless_near or only_near",
    ):
        assert expected in text, (expected, text)


def test_every_alias_of_isis_resolves_to_one_actor(tagger):
    for alias in ("داعش", "تنظيم الدولة", "الدولة الإسلامية في العراق والشام", "ISIS", "ISIL", "Daesh",
                  "Islamic State", "IS fighters", "État islamique", "لداعش"):
        assert tagger.entities(alias)["actors"] == ["ISIS"], alias
    assert tagger.entities("what is this")["actors"] == []        # the verb is not the group
    assert tagger.entities("قسد")["actors"] == ["SDF"]
    assert tagger.entities("أمريكا")["actors"] == tagger.entities("أميركا")["actors"] == ["United States"]


@pytest.mark.parametrize("text", ["قال باحث في جامعة واشنطن إن الحرب طويلة", "نقلت صحيفة واشنطن بوست عن مصادر",
                                  "A professor at Washington University said", "The Washington Post reported"])
def test_an_institution_named_after_washington_is_not_the_united_states(tagger, text):
    assert "United States" not in tagger.entities(text)["actors"]


def test_washington_as_the_government_is_the_united_states(tagger):
    assert "United States" in tagger.entities("قالت واشنطن إن قواتها في سوريا باقية")["actors"]
