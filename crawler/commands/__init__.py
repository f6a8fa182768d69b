"""One module per `raqib` command, plus the helpers they share to read the global options."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.configfile import config_dir_from_env


def config_dir(args: argparse.Namespace) -> Path | None:
    return config_dir_from_env(getattr(args, "config", None))


def load_settings(args: argparse.Namespace):
    from pipelines.settings import load_settings as _load

    es = getattr(args, "es", None)
    return _load(config_dir(args), overrides={("elasticsearch", "url"): es})


def load_outlets(args: argparse.Namespace):
    from pipelines.outlets import load_outlets as _load

    return _load(config_dir(args))


def es_client(args: argparse.Namespace, cfg=None):
    """A checked client for the configured cluster (ClusterError with advice when unreachable)."""
    from pipelines.es import client_for

    cfg = cfg or load_settings(args)
    return client_for(cfg)


def alias(cfg) -> str:
    return cfg.get("elasticsearch", "alias")
