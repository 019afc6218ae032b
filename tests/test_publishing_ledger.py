"""The claims ledger reads verdicts from executed notebooks, never from text typed elsewhere."""

import json

import nbformat
import pytest

from landscape.publishing.page import GLUE_PREFIX
from landscape.publishing.ledger import collect, counts
from landscape.publishing.notebooks import glued


def _glue_output(name, value):
    return nbformat.v4.new_output(
        "display_data", data={GLUE_PREFIX + "text/plain": repr(value)},
        metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
    )


def _notebook(path, claims, profile="cpu"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [_glue_output("run-profile", profile), _glue_output("run-device", "CPU")]
    for cid, (statement, value, threshold, verdict) in claims.items():
        cell.outputs += [
            _glue_output(f"claim-{cid}-statement", statement),
            _glue_output(f"claim-{cid}-value", value),
            _glue_output(f"claim-{cid}-threshold", threshold),
            _glue_output(f"claim-{cid}-verdict", verdict),
        ]
    nb.cells = [cell]
    nbformat.write(nb, path)


def test_collect_orders_claims_and_counts_verdicts(tmp_path):
    _notebook(tmp_path / "a.ipynb", {"1.10": ("s10", 0.5, ">= 0.1", "reproduced"), "1.2": ("s2", float("nan"), "<= 1", "inconclusive")})
    _notebook(tmp_path / "b.ipynb", {"4.1": ("s41", 3, "> 2", "not reproduced")}, profile="smoke")
    rows = collect(tmp_path, {"a": "a.ipynb", "b": "b.ipynb", "missing": "c.ipynb"})
    assert [r.id for r in rows] == ["1.2", "1.10", "4.1"]
    assert rows[0].value_text == "nan" and rows[1].value == 0.5 and rows[2].profile == "smoke"
    assert rows[2].paper == "srinivasan2018adine" and rows[0].paper == "sankar2021hessian"
    c = counts(rows)
    assert c["all"] == {"reproduced": 1, "inconclusive": 1, "not reproduced": 1}
    assert c["sankar2021hessian"]["reproduced"] == 1 and c["srinivasan2018adine"]["not reproduced"] == 1


def test_bad_or_incomplete_claims_are_refused(tmp_path):
    _notebook(tmp_path / "a.ipynb", {"1.1": ("s", 1.0, "> 0", "probably")})
    with pytest.raises(ValueError, match="verdict 'probably'"):
        collect(tmp_path, {"a": "a.ipynb"})
    _notebook(tmp_path / "b.ipynb", {"1.1": ("s", 1.0, "> 0", "reproduced")})
    nb = json.loads((tmp_path / "b.ipynb").read_text())
    nb["cells"][0]["outputs"] = [o for o in nb["cells"][0]["outputs"] if o["metadata"]["scrapbook"]["name"] != "claim-1.1-value"]
    (tmp_path / "b.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="without its value"):
        collect(tmp_path, {"b": "b.ipynb"})


def test_published_chapters_feed_the_ledger():
    """The committed notebooks' glued verdicts are exactly what the ledger lists."""
    from pathlib import Path

    from landscape.chapters import CHAPTERS

    repo = Path(__file__).resolve().parent.parent
    rows = collect(repo)
    for name, nb in CHAPTERS.items():
        values = glued(repo / nb)
        ids = {k.split("-")[1] for k in values if k.startswith("claim-") and k.endswith("-verdict")}
        assert {r.id for r in rows if r.chapter == name} == ids
        for r in rows:
            if r.chapter == name:
                assert r.verdict == values[f"claim-{r.id}-verdict"]


def test_build_gate_finds_error_outputs_and_unexecuted_chapters(tmp_path):
    from landscape.publishing.notebooks import problems

    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("1")
    ok.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]
    bad = nbformat.v4.new_code_cell("1/0")
    bad.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    nb.cells = [ok, bad]
    assert problems(nb) == ["cell output holds an error: ZeroDivisionError: division by zero"]
    nb.cells = [nbformat.v4.new_code_cell("1")]
    assert "no code cell has outputs" in problems(nb)[0]
    nb.cells = [ok]
    assert problems(nb) == []


def test_scale_verdicts_read_the_gpu_records(tmp_path):
    (tmp_path / "results").mkdir()
    rec = {"device": "H100", "date": "2026-11-26", "arms": {}, "rules": "v2",
           "claims": [{"id": "1.5", "statement": "s", "value": 0.2, "rule": ">= 0.1", "verdict": "reproduced"}]}
    (tmp_path / "results" / "a-gpu.json").write_text(json.dumps(rec))
    (tmp_path / "results" / "b-gpu.json").write_text("{broken")
    from landscape.publishing.ledger import scale_verdicts

    got = scale_verdicts(tmp_path, {"a": "a.ipynb", "b": "b.ipynb", "c": "c.ipynb"})
    assert got == {"1.5": {"verdict": "reproduced", "value": 0.2, "device": "H100", "date": "2026-11-26", "chapter": "a",
                           "settings": [("", "reproduced")]}}
    rec["claims"] = [{"id": "1.5", "verdict": "reproduced", "setting": "MNIST-10k"},
                     {"id": "1.5", "verdict": "not reproduced", "setting": "Fashion-MNIST"}]
    (tmp_path / "results" / "a-gpu.json").write_text(json.dumps(rec))
    got = scale_verdicts(tmp_path, {"a": "a.ipynb"})["1.5"]
    assert got["verdict"] == "reproduced" and got["settings"] == [("MNIST-10k", "reproduced"), ("Fashion-MNIST", "not reproduced")]
    assert scale_verdicts(tmp_path, {"a": "a.ipynb"}) and not scale_verdicts(tmp_path, {"b": "b.ipynb"})
    (tmp_path / "results" / "c-gpu.json").write_text(json.dumps({**rec, "rules": "v1"}))
    assert scale_verdicts(tmp_path, {"c": "c.ipynb"}) == {}  # a v1 record is not the paper's setting
    rec["claims"][1]["verdict"] = "sort of"
    (tmp_path / "results" / "a-gpu.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="sort of"):
        scale_verdicts(tmp_path, {"a": "a.ipynb"})


def test_a_v1_verdict_and_a_declared_null_are_checked(tmp_path, monkeypatch):
    from landscape.publishing import ledger

    _notebook(tmp_path / "a.ipynb", {"1.1": ("s", 0.1, "<= 0.5", "reproduced")})
    nb = json.loads((tmp_path / "a.ipynb").read_text())
    nb["cells"][0]["outputs"].append(json.loads(json.dumps(_glue_output("claim-1.1-v1-verdict", "reproduced"))))
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    rows = collect(tmp_path, {"a": "a.ipynb"})
    assert rows[0].v1_verdict == "reproduced" and rows[0].null is None
    # a chapter whose 1.1 rule names a null must glue the null's score
    monkeypatch.setitem(ledger.CHAPTERS, "a", "a.ipynb")
    monkeypatch.setattr(ledger, "module", lambda name: type("M", (), {"NULLS": {"1.1": "a point mass at zero"}}))
    with pytest.raises(ValueError, match=r"claim 1.1's rule names a null \(a point mass at zero\) but the notebook glues no claim-1.1-null"):
        collect(tmp_path, {"a": "a.ipynb"})
    nb["cells"][0]["outputs"].append(json.loads(json.dumps(_glue_output("claim-1.1-null", 0.9))))
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    assert collect(tmp_path, {"a": "a.ipynb"})[0].null == 0.9
