"""Actors and places: the gazetteer in `config/entities.yaml`, and what an article mentions.

Each actor and place is a concept (see `pipelines.terms`): its names in Arabic, English and
French, plus what tells a homonym apart (الرقة in Kuwait, تدمر the verb). A place carries its
coordinates, so an article's places become `locations`, a geo_point list Kibana can map.

The topic rules refer to the same entries (``actor:ISIS``, ``places:SY``), so a name is
written once and serves both the tags and the entities.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.configfile import Checker, load_yaml, resolve
from pipelines.terms import Concept, Hit, check_concept

ENTITY_FILE = "entities.yaml"
ACTOR_KEYS = ("kind",)
PLACE_KEYS = ("kind", "country", "lat", "lon", "approximate")
PLACE_KINDS = ("country", "governorate", "city", "town", "site", "region", "camp", "base")


@dataclass(frozen=True)
class Actor:
    name: str
    kind: str | None
    concepts: tuple[Concept, ...]

    @property
    def key(self) -> str:
        return actor_key(self.name)


@dataclass(frozen=True)
class Place:
    name: str
    kind: str
    country: str
    lat: float
    lon: float
    concepts: tuple[Concept, ...]

    @property
    def key(self) -> str:
        return place_key(self.name)


@dataclass(frozen=True)
class Gazetteer:
    actors: dict[str, Actor]
    places: dict[str, Place]
    source: str

    def concepts(self) -> list[Concept]:
        entities: list[Actor | Place] = [*self.actors.values(), *self.places.values()]
        return [c for e in entities for c in e.concepts]

    def places_in(self, country: str) -> list[str]:
        """Concept names of every place in a country (the country itself included)."""
        return [p.key for p in self.places.values() if p.country == country]

    def extract(self, found: dict[str, list[Hit]]) -> tuple[dict[str, list[str]], list[dict[str, float]]]:
        """`entities` (canonical names, most mentioned first) and `locations` from the hits of
        one text. A country's own point is given only when none of its places is named: a dot
        in the middle of Syria says less than the towns the article names."""
        actors = _by_mentions(found, [(a.key, a.name) for a in self.actors.values()])
        places = _by_mentions(found, [(p.key, p.name) for p in self.places.values()])
        named_countries = {self.places[p].country for p in places if self.places[p].kind != "country"}
        locations = []
        for name in places:
            place = self.places[name]
            if place.kind == "country" and place.country in named_countries:
                continue
            locations.append({"lat": place.lat, "lon": place.lon})
        return {"actors": actors, "places": places}, locations


def _by_mentions(found: dict[str, list[Hit]], names: list[tuple[str, str]]) -> list[str]:
    present = [(len(found[key]), found[key][0].first, name) for key, name in names if key in found]
    return [name for _, _, name in sorted(present, key=lambda t: (-t[0], t[1]))]


def actor_key(name: str) -> str:
    return f"actor:{name}"


def place_key(name: str) -> str:
    return f"place:{name}"


def load_gazetteer(config_dir: Path | None = None, path: Path | None = None) -> Gazetteer:
    """Read and validate entities.yaml; every problem is reported at once (ConfigError)."""
    path = path or resolve(ENTITY_FILE, config_dir)
    return parse_gazetteer(load_yaml(path), str(path))


def parse_gazetteer(data: Any, source: str = ENTITY_FILE) -> Gazetteer:
    check = Checker(source)
    data = check.mapping(data, "", allowed=("actors", "places"), required=("actors", "places"))
    actors: dict[str, Actor] = {}
    for name, raw in _entries(check, data.get("actors"), "actors"):
        concepts = check_concept(check, actor_key(name), raw, f"actors.{name}", extra_keys=ACTOR_KEYS)
        kind = check.string(raw.get("kind") if isinstance(raw, dict) else None, f"actors.{name}.kind")
        if concepts:
            actors[name] = Actor(name, kind, tuple(concepts))
    places: dict[str, Place] = {}
    for name, raw in _entries(check, data.get("places"), "places"):
        where = f"places.{name}"
        concepts = check_concept(check, place_key(name), raw, where, extra_keys=PLACE_KEYS)
        raw = raw if isinstance(raw, dict) else {}
        for key in ("kind", "country", "lat", "lon"):
            if raw.get(key) is None:
                check.add(f"{where}.{key}", "is required")
        kind = check.string(raw.get("kind"), f"{where}.kind")
        if kind is not None and kind not in PLACE_KINDS:
            check.add(f"{where}.kind", f"expected one of {', '.join(PLACE_KINDS)}, got {kind!r}")
        country = check.string(raw.get("country"), f"{where}.country", pattern=r"[A-Z]{2}",
                               what="a two-letter ISO country code such as SY")
        lat = check.number(raw.get("lat"), f"{where}.lat", minimum=-90, maximum=90)
        lon = check.number(raw.get("lon"), f"{where}.lon", minimum=-180, maximum=180)
        check.boolean(raw.get("approximate"), f"{where}.approximate")
        if concepts and kind and country and lat is not None and lon is not None:
            places[name] = Place(name, kind, country, float(lat), float(lon), tuple(concepts))
    check.raise_if_any()
    return Gazetteer(actors, places, source)


def _entries(check: Checker, value: Any, path: str):
    value = check.mapping(value, path, allowed=()) if not isinstance(value, dict) else value
    for name, raw in value.items():
        if not isinstance(name, str) or not name.strip():
            check.add(path, f"entry names must be text, got {name!r}")
            continue
        yield name, raw
