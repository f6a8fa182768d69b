"""The mirrored outlets, one module each, registered here by their config key."""
from __future__ import annotations

from crawler.mirror.sites.alittihad import AlKhanadeq
from crawler.mirror.sites.almarjie import AlMarjie
from crawler.mirror.sites.almayadeen import AlMayadeen
from crawler.mirror.sites.ghost import LevantMonitor
from crawler.mirror.sites.islamsyria import IslamSyria
from crawler.mirror.sites.noonpost import NoonPost

SITES = {cls.key: cls for cls in (AlKhanadeq, AlMarjie, NoonPost, IslamSyria, AlMayadeen, LevantMonitor)}
# The sixth site: no entry in the shipped config; the tests add `data/new_site.yaml` alone.
NEW_SITE = LevantMonitor.key
