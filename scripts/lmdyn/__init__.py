"""Library behind the workflow: corpus, tokens, micro suite, metrics, aggregates, statistics, figures.

Rule scripts in ``scripts/`` are thin: they read ``snakemake.input/params``, call into these modules
and write ``snakemake.output``. Modules import heavy dependencies (torch, spaCy) lazily where they
are not needed by every caller.
"""

__version__ = "0.1.0"
