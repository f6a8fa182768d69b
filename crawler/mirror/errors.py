"""The mirror's one error, below every module of the package (the config rewriter raises it
too, and the mirror imports the rewriter)."""


class MirrorError(Exception):
    """The mirror cannot do what was asked; the message says why and what to do."""
