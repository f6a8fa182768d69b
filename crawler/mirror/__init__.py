"""An offline mirror of the outlets raqib crawls, for tests, the demo and benchmarks.

    from crawler.mirror import Mirror
    with Mirror() as m:
        m.write_config(config_dir)        # the shipped outlets.yaml, pointed at the mirror
        m.truth("almayadeen")             # what a complete crawl must index

See README.md beside this file for the sites, the faults and the ground truth format.
"""
from crawler.mirror.mirror import Mirror, MirrorError

__all__ = ["Mirror", "MirrorError"]
