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
#: an end point that is near-stationary and whose v_min search beats the random ones: a saddle by v2's (a) and (c)
AT_SADDLE = {"grad_ratio": 1e-3, "decrease_min": 1e-4, "decrease_random": [1e-6] * 20, "gain": 0.001,
             "capped_min": False, "alpha_min": 2.5}
#: near-stationary, but v_min buys no more than a random direction: a flat minimum by (c)
FLAT = {**AT_SADDLE, "decrease_min": 1e-6}
#: not near-stationary: the gradient is still a tenth of the initial one
MOVING = {**AT_SADDLE, "grad_ratio": 0.1}
INIT = {"grad_ratio": 1.0, "decrease_min": 1e-2, "decrease_random": [1e-3] * 20}


def synthetic(p, spectra: dict | None = None, gains: dict | None = None, ratios: dict | None = None,
              checks: dict | None = None, perturbations: int = 3) -> Results:
    """The smallest Results the claims read: final spectra, the v2 checks (default :data:`AT_SADDLE`),
    escape gains (v1, and v2 in the checks), PGD's perturbations, the spectra and checks at
    initialization, and the semicircle fits' KS ratios (the GOE controls' KS is 0.01, the Hessians'
    ratio x 0.01)."""
    keys = [(o, s) for o in p.optimizers for s in p.seeds]
    spectra, gains, ratios, checks = spectra or {}, gains or {}, ratios or {}, checks or {}
    runs = {k: {"eigenvalues": torch.tensor(spectra.get(k, SADDLE), dtype=torch.float64), "n_params": N,
                "perturbations": perturbations if k[0] == "pgd" else 0} for k in keys}
    escapes = {k: {"gain": gains.get(k, 0.001)} for k in keys}
    check = {k: {**checks.get(k, AT_SADDLE), "gain": gains.get(k, checks.get(k, AT_SADDLE)["gain"])} for k in keys}
    goe = {s: SimpleNamespace(ks=0.01) for s in p.seeds}
    final = {k: SimpleNamespace(ks=0.01 * ratios.get(k, 1.2)) for k in keys}
    semi = Semicircle(goe=goe, goe_eigs={}, init={s: SimpleNamespace(ks=0.1) for s in p.seeds}, final=final,
                      ratio_final={k: final[k].ks / goe[k[1]].ks for k in keys},
                      ratio_init={s: 10.0 for s in p.seeds})
    inits = {s: torch.tensor(SADDLE_60, dtype=torch.float64) for s in p.seeds}
    return Results(runs, inits, escapes, semi, checks=check, init_checks={s: INIT for s in p.seeds}, dataset=p.dataset)


def by_id(claims):
    return {c.id: c for c in claims}


def test_every_claim_reproduces_on_a_degenerate_saddle_that_escaping_does_not_improve():
    p = params()
    c = by_id(saddles.claims(synthetic(p), p))
    assert [c[i].verdict for i in ("5.1", "5.2", "5.3", "5.4")] == ["reproduced"] * 4
    assert [c[i].v1.verdict for i in ("5.1", "5.2", "5.3", "5.4")] == ["reproduced"] * 4
    assert c["5.1"].value == 1.0 and c["5.1"].detail.startswith("25 of 25 end points; (a) 1.00, (b) 1.00, (c) 1.00")
    assert c["5.2"].value == pytest.approx(0.0, abs=1e-12) and c["5.3"].value == pytest.approx(0.001)
    assert c["5.4"].value == pytest.approx(1.2)
    assert all(c[i].change == saddles.claims_module.CHANGES[i] for i in c)
    assert set(saddles.claims_module.NULLS) == {"5.1"} and c["5.1"].null_label


# --- 5.1


def test_5_1_v2_reproduces_at_saddles_and_its_null_the_strict_minimum_fails():
    p = params(optimizers=["sgd", "adam"])
    c = by_id(saddles.claims(synthetic(p), p))["5.1"]
    assert (c.value, c.verdict) == (1.0, "reproduced")
    # the null: the convex quadratic on the first run's magnitudes is stationary and degenerate, but no saddle
    assert c.null == 0.0 and c.null_fails
    null = c.extra["null"]
    assert null["stationary"] and null["degenerate"] and not null["saddle"] and null["decrease_min"] == 0.0
    (n,) = saddles.claims_module.null_claims(synthetic(p), p)
    assert (n.id, n.value, n.verdict) == ("5.1", 0.0, "not reproduced")
    # the baseline at initialization is reported: (b) and (c) hold there, (a) cannot
    assert c.extra["init"]["stationary"] == 0.0 and c.extra["init"]["degenerate"] == 1.0
    glue = saddles.claims_module.claim_glue([c], [n])
    assert glue["claim-5.1-end-saddle"] == 1.0 and glue["claim-5.1-init-stationary"] == 0.0
    assert glue["claim-5.1-null-verdict"] == "not reproduced"


def test_5_1_v2_is_not_reproduced_at_flat_minima_and_says_how_many():
    p = params(optimizers=["sgd", "adam"])
    keys = [(o, s) for o in p.optimizers for s in p.seeds]
    flat = synthetic(p, checks={k: FLAT for k in keys[:7]})                     # 7 of 10 flat minima
    c = by_id(saddles.claims(flat, p))["5.1"]
    assert (c.value, c.verdict) == (pytest.approx(0.3), "not reproduced")
    assert c.extra["end"]["flat"] == pytest.approx(0.7) and c.extra["end"]["saddle"] == pytest.approx(0.3)
    assert c.v1.verdict == "reproduced"                                          # v1 could not tell them apart
    moving = synthetic(p, checks={k: MOVING for k in keys})                        # (a) fails: not converged
    c = by_id(saddles.claims(moving, p))["5.1"]
    assert (c.value, c.verdict, c.extra["end"]["flat"]) == (0.0, "not reproduced", 0.0)
    minima = synthetic(p, spectra={k: MINIMUM for k in keys})                      # (b) and (c) fail
    assert by_id(saddles.claims(minima, p))["5.1"].verdict == "not reproduced"


def test_5_1_v2_is_inconclusive_without_a_finite_measure():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2, 3, 4])
    nan = {("sgd", s): {**AT_SADDLE, "decrease_min": math.nan} for s in p.seeds}   # every line search gave NaN
    c = by_id(saddles.claims(synthetic(p, checks=nan), p))["5.1"]
    assert math.isnan(c.value) and c.verdict == "inconclusive"


def test_5_1_v1_counts_the_runs_at_a_degenerate_saddle():
    p = params(optimizers=["sgd", "adam"], seeds=[0, 1])
    half = synthetic(p, spectra={("sgd", 0): MINIMUM, ("sgd", 1): MINIMUM})
    c = by_id(saddles.claims_v1(half, p))["5.1"]
    assert (c.value, c.verdict) == (0.5, "not reproduced")                 # "most" is more than most_fraction = 0.5
    assert by_id(saddles.claims_v1(synthetic(p, spectra={("sgd", 0): MINIMUM}), p))["5.1"].verdict == "reproduced"
    no_negative = [1.0] + [0.0] * 99                                      # degenerate, no negative eigenvalue
    c = by_id(saddles.claims_v1(synthetic(p, spectra={k: no_negative for k in half.runs}), p))["5.1"]
    assert (c.value, c.verdict) == (0.0, "not reproduced")


# --- 5.2


def test_5_2_compares_pgd_with_the_plain_methods_after_checking_that_pgd_perturbed():
    p = params(optimizers=["sgd", "pgd"])
    c = by_id(saddles.claims(synthetic(p), p))["5.2"]
    assert c.value == pytest.approx(0.0, abs=1e-12) and c.verdict == "reproduced" and c.manipulation.passed
    assert c.mde == pytest.approx(0.0, abs=1e-12)
    far = synthetic(p, spectra={("pgd", s): SADDLE_60 for s in p.seeds})
    c = by_id(saddles.claims(far, p))["5.2"]
    assert c.value == pytest.approx(0.2) and c.verdict == "not reproduced" and "PGD 0.600 vs plain 0.800" in c.detail
    near = synthetic(p, spectra={("pgd", 0): SADDLE_70, ("pgd", 1): SADDLE_70})   # PGD 0.76 on average
    c = by_id(saddles.claims(near, p))["5.2"]
    assert c.value == pytest.approx(0.04) and c.verdict == "reproduced" and c.mde > 0


def test_5_2_is_inconclusive_when_pgd_never_perturbed_or_is_missing():
    p = params(optimizers=["sgd", "pgd"])
    c = by_id(saddles.claims(synthetic(p, perturbations=0), p))["5.2"]
    assert c.verdict == "inconclusive" and c.detail.startswith("treatment inactive: PGD perturbed failed")
    assert c.v1.verdict == "reproduced"                                    # v1 had no manipulation check
    no_pgd = params(optimizers=["sgd", "adam"])
    c = by_id(saddles.claims(synthetic(no_pgd), no_pgd))["5.2"]
    assert math.isnan(c.value) and c.verdict == "inconclusive" and "needs 'pgd'" in c.detail


def test_5_2_null_pgd_at_a_strict_minimum_fails():
    p = params(optimizers=["sgd", "pgd"])
    c = by_id(saddles.claims(synthetic(p, spectra={("pgd", s): MINIMUM for s in p.seeds}), p))["5.2"]
    assert c.value == pytest.approx(0.8) and c.verdict == "not reproduced"


# --- 5.3


def test_5_3_v2_is_the_median_gain_as_a_share_of_the_decrease_training_achieved():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2])
    big = {("sgd", 0): {**AT_SADDLE, "gain": 0.05}, ("sgd", 1): {**AT_SADDLE, "gain": 0.03},
           ("sgd", 2): {**AT_SADDLE, "gain": -0.01}}
    c = by_id(saddles.claims(synthetic(p, checks=big), p))["5.3"]
    assert c.value == pytest.approx(0.03) and c.verdict == "not reproduced"
    assert c.detail.startswith("per run -0.01 to +0.05 of the decrease training achieved")
    assert c.v1.verdict == "reproduced"                                  # v1 read the (default) relative gains 0.001
    c = by_id(saddles.claims(synthetic(p, checks={("sgd", 0): {**AT_SADDLE, "gain": 0.05}}), p))["5.3"]
    assert c.value == pytest.approx(0.001) and c.verdict == "reproduced"


def test_5_3_is_inconclusive_when_every_run_diverged_and_its_null_a_real_escape_fails():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2])
    diverged = {("sgd", s): {**AT_SADDLE, "gain": math.nan} for s in p.seeds}
    c = by_id(saddles.claims(synthetic(p, checks=diverged), p))["5.3"]
    assert c.verdict == "inconclusive" and "no finite gain" in c.detail
    # the null: a strict saddle, where escaping buys half of everything training did, must fail
    strict = {("sgd", s): {**AT_SADDLE, "gain": 0.5} for s in p.seeds}
    assert by_id(saddles.claims(synthetic(p, checks=strict), p))["5.3"].verdict == "not reproduced"


def test_5_3_v1_is_the_median_relative_gain():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2])
    c = by_id(saddles.claims_v1(synthetic(p, gains={("sgd", 0): 0.05, ("sgd", 1): 0.03, ("sgd", 2): -0.01}), p))["5.3"]
    assert c.value == pytest.approx(0.03) and c.verdict == "not reproduced" and c.detail == "per run -1.00% to +5.00%"


# --- 5.4


def test_5_4_is_the_median_ks_ratio_to_the_goe_control():
    p = params(optimizers=["sgd"], seeds=[0, 1, 2, 3, 4])
    far = {("sgd", s): 30.0 for s in (0, 1, 2)}
    c = by_id(saddles.claims(synthetic(p, ratios=far), p))["5.4"]
    assert c.value == pytest.approx(30.0) and c.verdict == "not reproduced" and c.v1.verdict == "not reproduced"
    assert "GOE median 0.0100; at initialization the ratio is 10; 5 runs" in c.detail
    c = by_id(saddles.claims(synthetic(p, ratios={("sgd", 0): 30.0}), p))["5.4"]
    assert c.value == pytest.approx(1.2) and c.verdict == "reproduced"
    nan = {("sgd", s): math.nan for s in p.seeds}                          # a fit that gave no distance
    assert by_id(saddles.claims(synthetic(p, ratios=nan), p))["5.4"].verdict == "inconclusive"


def test_5_4_null_the_goe_control_passes_and_a_spectrum_far_from_any_semicircle_fails():
    from landscape import spectra

    p = params(optimizers=["sgd"], seeds=[0, 1, 2, 3, 4])
    goe = torch.linalg.eigvalsh(spectra.goe(200, seed=0))
    two_points = torch.cat([torch.linspace(-1.1, -0.9, 100), torch.linspace(0.9, 1.1, 100)]).double()   # bimodal
    ks = lambda e: spectra.fit_semicircle(e, trim=p.bulk_trim).ks
    ratio = ks(two_points) / ks(goe)
    c = by_id(saddles.claims(synthetic(p, ratios={("sgd", s): ratio for s in p.seeds}), p))["5.4"]
    assert ratio > p.ks_ratio_max and c.verdict == "not reproduced"
    c = by_id(saddles.claims(synthetic(p, ratios={("sgd", s): 1.0 for s in p.seeds}), p))["5.4"]
    assert c.verdict == "reproduced"


def test_claims_by_setting_decides_each_data_set():
    p = params(optimizers=["sgd", "pgd"])
    main = synthetic(p)
    main.others = {"fashion-mnist": synthetic(p, spectra={("pgd", s): MINIMUM for s in p.seeds})}
    per = saddles.claims_module.claims_by_setting(main, p)
    assert list(per) == ["digits", "fashion-mnist"]
    assert [c.verdict for c in per["digits"]] == ["reproduced"] * 4
    assert by_id(per["fashion-mnist"])["5.2"].verdict == "not reproduced"


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
    claim_names = {n for n in glued_in_prose(NOTEBOOK) if n.startswith("claim-")}
    glued = set(saddles.claim_glue(saddles.claims(results, p), saddles.null_claims(results, p)))
    glued |= {f"claim-{i}-{k}" for i in ("5.1", "5.2", "5.3", "5.4") for k in ("verdict", "v1-verdict", "null", "value")}
    assert claim_names <= glued, f"not glued: {sorted(claim_names - glued)}"
    assert set(saddles.SMOKE_CHECKS) <= set(values)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in values.values())
    claims = by_id(saddles.claims(results, p))
    v1 = {i: c.v1 for i, c in claims.items()}
    assert values["saddles-runs-saddle"] == v1["5.1"].value and values["saddles-pgd-gap"] == claims["5.2"].value
    assert values["saddles-ks-ratio-median"] == claims["5.4"].value
    assert values["saddles-escape-gain-median"] == v1["5.3"].value and values["saddles-v2-gain-median"] == claims["5.3"].value
    assert values["saddles-end-all"] == claims["5.1"].value and values["saddles-null-all"] == claims["5.1"].null
    for table in (saddles.tables.final_table(results, p), saddles.tables.escape_table(results),
                  saddles.tables.semicircle_table(results), saddles.tables.slq_table(results, p),
                  saddles.tables.big_table(results, p), saddles.tables.tolerance_table(results, p),
                  saddles.tables.saddle_table(results, p), saddles.tables.shares_table(results, p),
                  saddles.tables.escape_v2_table(results), saddles.tables.null_table(results, p)):
        assert len(table) and table.attrs["formats"]


# ------------------------------------------------------------------ the gpu record


def test_the_gpu_record_round_trips_and_only_a_gpu_run_writes_it(tmp_path):
    p = params(optimizers=["sgd", "pgd"])
    res = synthetic(p)
    res.others = {"fashion-mnist": synthetic(p, spectra={("pgd", s): MINIMUM for s in p.seeds})}
    claims = saddles.claims(res, p)
    path = tmp_path / "saddles-gpu.json"
    assert saddles.record_gpu_run(res, claims, p, device=torch.device("cpu"), seconds=1.0, path=path) is None
    assert not path.exists()                                               # the cpu profile records nothing
    gpu = p.replace(profile="gpu")
    assert saddles.record_gpu_run(res, claims, gpu, device=torch.device("cpu"), seconds=12.0, path=path) == path
    rec = saddles.load_paper_scale(path)
    assert rec["rules"] == "v2" and rec["profile"] == "gpu" and list(rec["settings"]) == ["digits", "fashion-mnist"]
    assert len(rec["settings"]["digits"]["runs"]) == 10 and rec["settings"]["digits"]["runs"][0]["all"] is True
    verdicts = saddles.paper_scale_verdicts(rec)
    assert verdicts["5.1"] == [("digits", "reproduced"), ("fashion-mnist", "not reproduced")]   # half the runs at a minimum
    assert verdicts["5.2"] == [("digits", "reproduced"), ("fashion-mnist", "not reproduced")]
    row = next(r for r in rec["claims"] if r["id"] == "5.1")
    assert row["v1"] == "reproduced" and row["null"] == 0.0
    assert "5.2  not reproduced" in saddles.paper_scale_text(rec) and "fashion-mnist" in saddles.paper_scale_text(rec)
    assert saddles.paper_scale_verdicts({**rec, "rules": "v1"}) == {}
    assert "No gpu-profile run is recorded" in saddles.paper_scale_text(None)
    assert saddles.load_paper_scale(tmp_path / "missing.json") is None


def test_the_gpu_profile_is_the_papers_setting_on_two_data_sets():
    from landscape.publishing.runner import plan

    q = saddles.SCHEMA.validate(plan(["saddles"], "gpu", [], REPO)["saddles"])
    assert (q.dataset, tuple(q.also_datasets)) == ("mnist10k", ("fashion-mnist",))
    assert 10_000 <= ex.mlp_size(q.input_size, q.widths) <= 20_000 and len(q.seeds) >= 5
    assert q.big_model == "lenet5" and q.big_dtype == "float64"
