"""Experiment support: what the chapters need between the science and the page.

==========================================  ===========================================================
:mod:`~landscape.experiment.params`         typed parameters, cross-parameter rules, frozen :class:`Params`
:mod:`~landscape.experiment.claims`         claims and verdicts from declared rules; :func:`all_of`
:mod:`~landscape.experiment.stats`          differences over seeds (paired or not), intervals, MDE
:mod:`~landscape.experiment.cache`          the results cache, keyed by what changes a result
:mod:`~landscape.experiment.sources`        which source files a module depends on (the cache's code version)
:mod:`~landscape.experiment.records`        result records in ``results/``, and their provenance
:mod:`~landscape.experiment.style`          the palette, the figure theme, compact PNGs
==========================================  ===========================================================
"""

from .cache import cached
from .claims import VERDICTS, Check, Claim, all_of, decide, decide_non_inferior, underpowered, worst_first
from .params import Param, ParameterError, Params, Rule, Schema
from .stats import Difference, difference, non_inferiority, paired_difference

__all__ = [
    "cached",
    "VERDICTS", "Claim", "Check", "decide", "decide_non_inferior", "all_of", "worst_first", "underpowered",
    "Param", "Rule", "Schema", "Params", "ParameterError",
    "Difference", "difference", "paired_difference", "non_inferiority",
]
