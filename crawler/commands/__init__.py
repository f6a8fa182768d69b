"""One module per `raqib` command, plus the helpers they share to read the global options."""
from __future__ import annotations

import argparse
from pathlib import Path

from crawler.configfile import config_dir_from_env


def config_dir(args: argparse.Namespace) -> Path | None:
    return config_dir_from_env(getattr(args, "config", None))


def settings(args: argparse.Namespace):
    from crawler.settings import load_settings

    es = getattr(args, "es", None)
    return load_settings(config_dir(args), overrides={("elasticsearch", "url"): es})


def outlets(args: argparse.Namespace):
    from crawler.outlets import load_outlets

    return load_outlets(config_dir(args))


def es_client(args: argparse.Namespace, cfg=None):
    """A checked client for the configured cluster (ClusterError with advice when unreachable)."""
    from pipelines.es import connect

    cfg = cfg or settings(args)
    return connect(cfg.get("elasticsearch", "url"), request_timeout=cfg.get("elasticsearch", "request_timeout"))


def alias(cfg) -> str:
    return cfg.get("elasticsearch", "alias")
