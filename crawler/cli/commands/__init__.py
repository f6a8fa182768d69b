"""One module per `raqib` command, plus the helpers they share to read the global options."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from pipelines.configfile import config_dir_from_env

# What each command module's `register(sub, common)` adds its parser to; `common` is the
# parent parser of the global options, so they work after the command name too.
# (a string: argparse's class is generic only in its stub, not at run time)
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def usage_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The `run` of a command given without its action: print its help, exit as a usage error."""
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return run


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


def validate_config(args: argparse.Namespace) -> None:
    """Every configuration file checked before a command runs, whichever files the command
    itself reads: one ConfigError listing the problems of all of them (README: Configuration)."""
    from pipelines.alerts.rules import known_topics, load_rules
    from pipelines.configfile import ConfigError, Problem
    from pipelines.outlets import load_outlets as _outlets
    from pipelines.tagging import default_tagger

    directory = config_dir(args)          # a wrong --config / RAQIB_CONFIG is reported alone
    problems: list[Problem] = []

    def attempt(load):
        try:
            return load()
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    attempt(lambda: load_settings(args))
    outlets = attempt(lambda: _outlets(directory))
    attempt(lambda: default_tagger(directory))          # topics.yaml and entities.yaml
    attempt(lambda: load_rules(directory, outlets=outlets, topics=known_topics(directory)))
    if problems:
        raise ConfigError(problems)


