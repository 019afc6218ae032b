"""The template chapter's claims(), fed synthetic results: each claim reproduced, not, and inconclusive."""

from __future__ import annotations

import numpy as np
import pytest

from landscape.chapters import template
from landscape.chapters.template.experiments import Results
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import notebook_defaults

from conftest import REPO

P = template.SCHEMA.validate(notebook_defaults(REPO / template.NOTEBOOK))


def results(final, init) -> Results:
    return Results(runs={}, train_loss={}, best_lr=0.1, final_acc=np.asarray(final, dtype=float), init_acc=np.asarray(init, dtype=float))


def verdicts(r: Results) -> dict[str, str]:
    return {c.id: c.verdict for c in template.claims(r, P)}


def test_reproduced():
    assert verdicts(results([0.95, 0.96, 0.94], [0.1, 0.12, 0.09])) == {"0.1": "reproduced", "0.2": "reproduced"}


def test_not_reproduced():
    v = verdicts(results([0.5, 0.52, 0.48], [0.9, 0.91, 0.92]))  # low accuracy, and training hurt beyond noise
    assert v == {"0.1": "not reproduced", "0.2": "not reproduced"}


def test_inconclusive():
    # 0.2 within noise; 0.1 with a diverged seed (NaN mean)
    c = template.claims(results([0.95, float("nan"), 0.94], [0.95, 0.5, 0.94]), P)
    assert [x.verdict for x in c] == ["inconclusive", "inconclusive"]
    noisy = template.claims(results([0.95, 0.3, 0.94], [0.1, 0.6, 0.2]), P)[1]
    assert noisy.verdict == "inconclusive" and "2 standard errors" in noisy.detail


def test_values_are_the_measurements():
    c1, c2 = template.claims(results([0.9, 1.0], [0.2, 0.4]), P)
    assert c1.value == pytest.approx(0.95) and c1.rule == ">= 0.9"
    assert c2.value == pytest.approx(0.65) and c2.verdict == "inconclusive"  # two seeds: too few


def test_schema_refuses_a_repeated_learning_rate():
    with pytest.raises(ParameterError, match=r"'lrs': \[0.1, 0.1\] lists 0.1 twice"):
        P.replace(lrs=[0.1, 0.1])
