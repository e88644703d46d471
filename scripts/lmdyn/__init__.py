"""Library behind the workflow: corpus, tokens, micro suite, metrics, aggregates, statistics, figures.

Rule scripts in ``scripts/`` are thin: they read ``snakemake.input/params``, call into these modules
and write ``snakemake.output``. Modules import heavy dependencies (torch, spaCy) lazily where they
are not needed by every caller.

From Python (a notebook): ``lmdyn.tables()`` lists the output tables, ``lmdyn.load(name)`` reads one
of a results folder, ``lmdyn.analyses`` runs one analysis on one checkpoint
(``lmdyn.Internals.from_pretrained`` loads it). These are imported on first use: the Snakefile
imports lmdyn at parse time, and that stays as light as the standard library.
"""

__version__ = "0.1.0"

_LAZY = {
    "tables": ("lmdyn.results", "tables"),
    "load": ("lmdyn.results", "load"),
    "spec": ("lmdyn.results", "spec"),
    "Internals": ("lmdyn.core.internals", "Internals"),
    "UserError": ("lmdyn.core.errors", "UserError"),
}
__all__ = ["analyses", *_LAZY]


def __getattr__(name: str):
    from importlib import import_module

    if name == "analyses":
        return import_module("lmdyn.analyses")
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'lmdyn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
