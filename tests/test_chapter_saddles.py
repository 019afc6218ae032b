"""The saddles chapter: its schema's rules, claims 5.1-5.4 on synthetic results (reproduced, not
reproduced, inconclusive), the exact spectra against a dense autograd Hessian, and a tiny run of the
whole chapter that yields every value the page glues."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.chapters import saddles
from landscape.chapters.saddles import experiments as ex
from landscape.chapters.saddles.experiments import Results, Semicircle
from landscape.experiment.cache import load_tree, save_tree
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import notebook_defaults
from landscape.training import data, models

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / saddles.NOTEBOOK
DEFAULTS = notebook_defaults(NOTEBOOK)


def params(**changes):
    return saddles.SCHEMA.validate({**DEFAULTS, **changes})


# ------------------------------------------------------------------ the schema


def test_the_notebook_defaults_and_every_profile_validate():
    from landscape.publishing.runner import plan

    assert params().max_dense == 20000
    for profile in ("smoke", "cpu", "gpu"):
        saddles.SCHEMA.validate(plan(["saddles"], profile, [], REPO)["saddles"])


@pytest.mark.parametrize("changes, names", [
    ({"input_size": 12}, "parameters 'dataset', 'input_size'"),                            # digits are 8x8
    ({"dataset": "digits", "big_input_size": 10}, "parameters 'dataset', 'big_input_size'"),
    ({"widths": [400, 12]}, "parameters 'dataset', 'input_size', 'widths', 'max_dense'"),   # 64*400+... > 20000
    ({"snapshot_epochs": [5, 200]}, "parameters 'snapshot_epochs', 'epochs'"),
    ({"line_points": 40}, "parameter 'line_points'"),
    ({"big_hessian_n": 600}, "parameters 'big_hessian_n', 'n_train'"),
])
def test_schema_refuses_each_broken_rule_naming_its_parameters(changes, names):
    with pytest.raises(ParameterError, match=re.escape(names)):
        params(**changes)


def test_the_dense_rule_says_how_large_the_mlp_is():
    with pytest.raises(ParameterError, match="the MLP has 30942 parameters"):
        params(widths=[400, 12])
    assert params(dataset="mnist10k", input_size=10, widths=[64, 32]).widths == (64, 32)   # the gpu profile's 8874


def test_schema_refuses_a_repeated_optimizer():
    with pytest.raises(ParameterError, match="'optimizers'.*twice"):
        params(optimizers=["sgd", "sgd"])


# ------------------------------------------------------------------ claims on synthetic results

N = 100
#: lambda_max 1, 80 exact zeros, 10 clearly negative (-0.01 < -1e-4 lambda_max), 9 positive: a degenerate saddle
SADDLE = [1.0] + [0.0] * 80 + [-0.01] * 10 + [0.5] * 9
#: every eigenvalue positive and away from zero: a minimum
MINIMUM = list(np.linspace(0.1, 1.0, N))
#: 60 near zero and one negative: a saddle, less degenerate than SADDLE by 0.2
SADDLE_60 = [1.0] + [0.0] * 60 + [-0.01] + [0.5] * 38
SADDLE_70 = [1.0] + [0.0] * 70 + [-0.01] + [0.5] * 28


def synthetic(p, spectra: dict | None = None, gains: dict | None = None, ratios: dict | None = None) -> Results:
    """The smallest Results the claims read: final spectra, escape gains and the semicircle fits' KS ratios
    (the GOE controls' KS is 0.01, the Hessians' KS is ratio x 0.01)."""
    keys = [(o, s) for o in p.optimizers for s in p.seeds]
    spectra = spectra or {}
    gains = gains or {}
    ratios = ratios or {}
    runs = {k: {"eigenvalues": torch.tensor(spectra.get(k, SADDLE), dtype=torch.float64), "n_params": N} for k in keys}
    escapes = {k: {"gain": gains.get(k, 0.001)} for k in keys}
    goe = {s: SimpleNamespace(ks=0.01) for s in p.seeds}
    final = {k: SimpleNamespace(ks=0.01 * ratios.get(k, 1.2)) for k in keys}
    semi = Semicircle(goe=goe, goe_eigs={}, init={s: SimpleNamespace(ks=0.1) for s in p.seeds}, final=final,
                      ratio_final={k: final[k].ks / goe[k[1]].ks for k in keys},
                      ratio_init={s: 10.0 for s in p.seeds})
    return Results(runs, {}, escapes, semi)


def by_id(claims):
    return {c.id: c for c in claims}


def test_every_claim_reproduces_on_a_degenerate_saddle_that_escaping_does_not_improve():
    p = params()
    c = by_id(saddles.claims(synthetic(p), p))
    assert [c[i].verdict for i in ("5.1", "5.2", "5.3", "5.4")] == ["reproduced"] * 4
    assert c["5.1"].value == 1.0 and c["5.1"].detail.startswith("15 of 15 runs; near-zero fractions 0.800-0.800")
    assert c["5.2"].value == 0.0 and c["5.3"].value == pytest.approx(0.001) and c["5.4"].value == pytest.approx(1.2)


def test_5_1_counts_the_runs_at_a_degenerate_saddle():
    p = params(optimizers=["sgd", "adam"], seeds=[0, 1])
    half = synthetic(p, spectra={("sgd", 0): MINIMUM, ("sgd", 1): MINIMUM})
    c = by_id(saddles.claims(half, p))["5.1"]
    assert (c.value, c.verdict) == (0.5, "not reproduced")                 # "most" is more than most_fraction = 0.5
    three = synthetic(p, spectra={("sgd", 0): MINIMUM})
    assert by_id(saddles.claims(three, p))["5.1"].verdict == "reproduced"
    # degenerate but with no negative eigenvalue is not a saddle
    no_negative = [1.0] + [0.0] * 99
    c = by_id(saddles.claims(synthetic(p, spectra={k: no_negative for k in half.runs}), p))["5.1"]
    assert (c.value, c.verdict) == (0.0, "not reproduced")


def test_5_2_compares_pgd_with_the_plain_methods():
    p = params(optimizers=["sgd", "pgd"], seeds=[0, 1])
    far = synthetic(p, spectra={("pgd", 0): SADDLE_60, ("pgd", 1): SADDLE_60})
    c = by_id(saddles.claims(far, p))["5.2"]
    assert c.value == pytest.approx(0.2) and c.verdict == "not reproduced"
    assert "PGD 0.600 vs plain 0.800" in c.detail
    near = synthetic(p, spectra={("pgd", 0): SADDLE_70})                   # PGD 0.75 on average
    c = by_id(saddles.claims(near, p))["5.2"]
    assert c.value == pytest.approx(0.05) and c.verdict == "reproduced"     # <= pgd_gap_max = 0.1
    no_pgd = params(optimizers=["sgd", "adam"])
    c = by_id(saddles.claims(synthetic(no_pgd), no_pgd))["5.2"]
    assert math.isnan(c.value) and c.verdict == "inconclusive" and "needs 'pgd'" in c.detail


def test_5_3_is_the_median_gain_of_escaping():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2])
    c = by_id(saddles.claims(synthetic(p, gains={("sgd", 0): 0.05, ("sgd", 1): 0.03, ("sgd", 2): -0.01}), p))["5.3"]
    assert c.value == pytest.approx(0.03) and c.verdict == "not reproduced" and c.detail == "per run -1.00% to +5.00%"
    c = by_id(saddles.claims(synthetic(p, gains={("sgd", 0): 0.05}), p))["5.3"]
    assert c.value == pytest.approx(0.001) and c.verdict == "reproduced"
    diverged = {("sgd", s): math.nan for s in (0, 1, 2)}                   # every control diverged: no measure
    assert by_id(saddles.claims(synthetic(p, gains=diverged), p))["5.3"].verdict == "inconclusive"


def test_5_4_is_the_median_ks_ratio_to_the_goe_control():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2])
    c = by_id(saddles.claims(synthetic(p, ratios={("sgd", 0): 30.0, ("sgd", 1): 40.0, ("sgd", 2): 1.0}), p))["5.4"]
    assert c.value == pytest.approx(30.0) and c.verdict == "not reproduced"
    assert "GOE median 0.0100; at initialization the ratio is 10" in c.detail
    c = by_id(saddles.claims(synthetic(p, ratios={("sgd", 0): 30.0}), p))["5.4"]
    assert c.value == pytest.approx(1.2) and c.verdict == "reproduced"
    nan = {("sgd", s): math.nan for s in (0, 1, 2)}                        # a fit that gave no distance
    assert by_id(saddles.claims(synthetic(p, ratios=nan), p))["5.4"].verdict == "inconclusive"


# ------------------------------------------------------------------ the experiments' pieces


def test_prepared_is_the_pooled_float64_data_set():
    spec = data.DataSpec("digits", n_train=40, n_test=20)
    ds = ex.prepared(spec, 4)
    ref = data.load("digits", n_train=40, n_test=20, seed=0)
    assert ds.train[0].dtype == torch.float64 and tuple(ds.train[0].shape) == (40, 1, 4, 4)
    assert torch.equal(ds.train[0], F.adaptive_avg_pool2d(ref.train[0].double(), 4))
    assert torch.equal(ds.test[1], ref.test[1])
    assert torch.equal(ex.prepared(spec, 8).train[0], ref.train[0].double())   # native side: not pooled


def test_mlp_size_counts_the_models_parameters():
    ds = ex.prepared(data.DataSpec("digits", n_train=20, n_test=10), 4)
    for widths in ([3], [5, 2]):
        assert ex.mlp_size(4, widths) == models.num_parameters(ex.build_mlp(ds, widths, "tanh", seed=0))


def test_exact_spectrum_is_that_of_the_dense_autograd_hessian():
    ds = ex.prepared(data.DataSpec("digits", n_train=30, n_test=10), 2)
    model = ex.build_mlp(ds, [3], "tanh", seed=0)
    names = [n for n, _ in model.named_parameters()]
    shapes = [q.shape for q in model.parameters()]
    flat0 = torch.cat([q.detach().reshape(-1) for q in model.parameters()])

    def loss(flat):
        pieces = torch.split(flat, [int(np.prod(s)) for s in shapes])
        state = {n: t.reshape(s) for n, t, s in zip(names, pieces, shapes)}
        return F.cross_entropy(torch.func.functional_call(model, state, (ds.train[0],)), ds.train[1])

    H = torch.autograd.functional.hessian(loss, flat0)
    ref = torch.linalg.eigvalsh(H)
    got = ex.exact_spectrum(model, ds.train, max_dense=1000)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ex.OPTIMIZERS)
def test_optimizer_state_survives_the_cache_file(tmp_path, name):
    """Stored and read back, the state continues the run exactly (PGD's noise generator included)."""
    setting = ex.Optimizer(name, 0.1, momentum=0.9, radius=0.1, g_thres=10.0, t_thres=0)

    def steps(w, opt, n):
        for _ in range(n):
            opt.zero_grad()
            (w ** 2).sum().backward()
            opt.step()

    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = ex.make_optimizer(setting, [w], seed=0)
    steps(w, opt, 2)
    save_tree(tmp_path / "s.npz", {"s": ex.optimizer_state_tree(opt.state_dict())}, key="k")
    back = load_tree(tmp_path / "s.npz", key="k")["s"]
    w2 = torch.nn.Parameter(w.detach().clone())
    other = ex.make_optimizer(setting, [w2], seed=5)
    other.load_state_dict(ex.optimizer_state_dict(back))
    steps(w, opt, 2)
    steps(w2, other, 2)
    assert torch.equal(w, w2)


def test_optimizer_settings_hold_only_their_own_hyper_parameters():
    p = params()
    assert ex.optimizer_setting(p, "sgd") == ex.optimizer_setting(p.replace(pgd_radius=0.5, momentum=0.5), "sgd")
    assert ex.optimizer_setting(p, "pgd") != ex.optimizer_setting(p.replace(pgd_radius=0.5), "pgd")


# ------------------------------------------------------------------ the whole chapter, tiny

TINY = {"input_size": 4, "n_train": 60, "n_test": 30, "widths": [4], "optimizers": ["sgd", "pgd"], "seeds": [0, 1],
        "epochs": 3, "snapshot_epochs": [1], "line_points": 5, "escape_epochs": 1, "big_epochs": 1, "big_hessian_n": 16,
        "slq_probes": 2, "slq_steps": 6, "n_extreme": 2, "eig_max_hvps": 30}


def glued_in_prose(path: Path) -> set[str]:
    """The names the notebook's markdown cites with {glue:text}."""
    nb = json.loads(path.read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return {m.split(":")[0] for m in re.findall(r"\{glue:text\}`([^`]+)`", text)}


def test_a_tiny_run_glues_every_value_the_prose_cites():
    p = params(**TINY)
    results = saddles.run(p)
    assert list(results.runs) == [("sgd", 0), ("sgd", 1), ("pgd", 0), ("pgd", 1)]
    assert results.n_params == ex.mlp_size(4, [4]) == 118 and results.examples == 60 and results.side == 4
    assert list(results.runs[("sgd", 0)]["snapshot_epochs"]) == [1] and list(results.runs[("sgd", 1)]["snapshot_epochs"]) == []
    values = saddles.summary_values(results, p)
    cited = {n for n in glued_in_prose(NOTEBOOK) if n.startswith("saddles-")}
    assert cited <= set(values), f"not computed: {sorted(cited - set(values))}"
    assert set(saddles.SMOKE_CHECKS) <= set(values)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in values.values())
    claims = by_id(saddles.claims(results, p))
    assert values["saddles-runs-saddle"] == claims["5.1"].value and values["saddles-pgd-gap"] == claims["5.2"].value
    assert values["saddles-ks-ratio-median"] == claims["5.4"].value
    assert values["saddles-escape-gain-median"] == claims["5.3"].value
    for table in (saddles.tables.final_table(results, p), saddles.tables.escape_table(results),
                  saddles.tables.semicircle_table(results), saddles.tables.slq_table(results, p),
                  saddles.tables.big_table(results, p), saddles.tables.tolerance_table(results, p)):
        assert len(table) and table.attrs["formats"]
