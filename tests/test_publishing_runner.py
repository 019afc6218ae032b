"""The chapter runner: validation before compute, failures reported, atomic publish."""

import io
import json
import os
from pathlib import Path

import nbformat
import pytest

from landscape.publishing import runner
from landscape.experiment.params import Param, ParameterError, Schema

SCHEMA = Schema(
    profile=Param(str, "profile", choices=("smoke", "cpu", "gpu")),
    n=Param(int, "a count", low=1, high=10),
    fail=Param(bool, "raise in the body"),
)


def _notebook(path, n=3, fail=False):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(f'profile = "cpu"\nn = {n}\nfail = {fail}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Fake"),
        params,
        nbformat.v4.new_code_cell("from myst_nb import glue\nglue('run-device', 'test-device', display=False)\nprint(n * 2)"),
        nbformat.v4.new_code_cell("if fail:\n    raise RuntimeError('chapter body failed')"),
    ]
    nb.metadata["kernelspec"] = {"name": "landscape", "display_name": "Python (landscape)", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "book").mkdir()
    (tmp_path / "profiles").mkdir()
    _notebook(tmp_path / "book" / "good.ipynb")
    _notebook(tmp_path / "book" / "bad.ipynb")
    for prof in runner.PROFILES:
        (tmp_path / "profiles" / f"{prof}.yaml").write_text("good:\n  n: 2\nbad:\n  fail: true\n")
    monkeypatch.setitem(runner.CHAPTERS, "good", "book/good.ipynb")
    monkeypatch.setitem(runner.CHAPTERS, "bad", "book/bad.ipynb")
    real = runner.schema
    monkeypatch.setattr(runner, "schema", lambda name: SCHEMA if name in ("good", "bad") else real(name))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _forbid_execution(monkeypatch):
    import papermill

    def boom(*a, **k):
        raise AssertionError("a chapter was executed although its parameters are invalid")

    monkeypatch.setattr(papermill, "execute_notebook", boom)


def test_plan_merges_defaults_profile_and_overrides(root):
    plan = runner.plan(["good", "bad"], "smoke", [("n", "7")], root)
    assert plan["good"] == {"profile": "smoke", "n": 7, "fail": False}
    assert plan["bad"] == {"profile": "smoke", "n": 7, "fail": True}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-p", "n", "0"], "chapter 'good': parameter 'n': 0 is below the minimum 1"),
        (["-p", "n", "abc"], "parameter 'n': expected int, got str 'abc'"),
        (["-p", "epochs", "3"], "unknown parameter 'epochs' given with -p for chapter 'good'"),
        (["nosuch"], "unknown chapter(s) nosuch"),
    ],
)
def test_bad_parameters_fail_before_any_compute(root, monkeypatch, capsys, argv, message):
    _forbid_execution(monkeypatch)
    extra = [] if argv == ["nosuch"] else ["good"]
    assert runner.main(["run", "--profile", "smoke", *argv, *extra]) == 2
    assert message in capsys.readouterr().err


def test_bad_profile_file_is_rejected(root, monkeypatch, capsys):
    _forbid_execution(monkeypatch)
    (root / "profiles" / "cpu.yaml").write_text("good:\n  learning_rate: 0.1\n")
    assert runner.main(["run", "--profile", "cpu", "good"]) == 2
    assert "unknown parameter 'learning_rate' in profiles/cpu.yaml for chapter 'good'" in capsys.readouterr().err


@pytest.mark.chapters
def test_a_failing_chapter_is_reported_and_the_others_run_and_publish(root, capsys):
    before_bad = (root / "book" / "bad.ipynb").read_bytes()
    code = runner.main(["run", "--profile", "smoke", "--publish", "--out", "runs/t", "bad", "good"])
    out = capsys.readouterr().out
    assert code == 1
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("good", "bad"))}
    assert lines["bad"][2] == "failed" and lines["good"][2] == "ok"
    assert "test-device" in lines["good"]
    assert "chapter body failed" in out
    # the good chapter was published with its outputs, the failed one left as it was
    published = json.loads((root / "book" / "good.ipynb").read_text())
    assert published["metadata"]["papermill"]["parameters"] == {"profile": "smoke", "n": 2, "fail": False}
    assert any("4\n" in "".join(o.get("text", "")) for c in published["cells"] for o in c.get("outputs", []))
    assert published["metadata"]["papermill"]["input_path"] == "book/good.ipynb"  # relative: no absolute paths leak
    assert (root / "book" / "bad.ipynb").read_bytes() == before_bad
    assert (root / "runs" / "t" / "bad.ipynb").exists()


def test_an_interrupted_run_leaves_book_untouched(root, monkeypatch, capsys):
    import papermill

    before = {p.name: p.read_bytes() for p in (root / "book").iterdir()}

    def interrupted(src, dst, **kwargs):
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        (root / dst).write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    assert runner.main(["run", "--profile", "smoke", "--publish", "--out", "runs/i", "good", "bad"]) == 1
    assert "interrupted" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (root / "book").iterdir()} == before


def test_publish_is_atomic(root, monkeypatch):
    target = root / "book" / "good.ipynb"
    before = target.read_bytes()
    executed = root / "executed.ipynb"
    executed.write_text("{}")

    def fail(*a):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        runner.publish(executed, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in (root / "book").iterdir()) == ["bad.ipynb", "good.ipynb"]


def test_notebook_defaults_reads_the_parameters_cell(root):
    assert runner.notebook_defaults(root / "book" / "good.ipynb") == {"profile": "cpu", "n": 3, "fail": False}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, root / "none.ipynb")
    with pytest.raises(ParameterError, match="no cell tagged 'parameters'"):
        runner.notebook_defaults(root / "none.ipynb")


def test_every_registered_chapter_declares_exactly_its_parameters_cell():
    """The schema and the notebook's parameters cell name the same parameters, and the defaults validate."""
    from landscape.chapters import CHAPTERS, schema

    for name, path in CHAPTERS.items():
        defaults = runner.notebook_defaults(runner.Path(__file__).resolve().parent.parent / path)
        assert sorted(defaults) == sorted(schema(name).names), name
        schema(name).validate(defaults, allow_extra=False)


def test_papermill_reads_every_parameter_of_every_chapter(caplog):
    """papermill's own reader of the parameters cell (``--help-notebook``, its inference) skips, with a
    warning, any line with two ``=`` (a ``<=`` in a comment is enough): every parameter must be seen."""
    import logging

    from papermill import inspect_notebook
    from landscape.chapters import CHAPTERS, schema

    for name, path in CHAPTERS.items():
        with caplog.at_level(logging.WARNING, logger="papermill"):
            caplog.clear()
            seen = list(inspect_notebook(str(runner.Path(__file__).resolve().parent.parent / path)))
        assert not [r.getMessage() for r in caplog.records if "Unable to parse" in r.getMessage()], name
        assert sorted(seen) == sorted(schema(name).names), name


def test_a_dead_kernel_is_retried_once_and_reported(root, monkeypatch, capsys):
    import papermill

    calls = {"n": 0}

    class DeadKernelError(Exception):
        pass

    def flaky(src, dst, **kwargs):
        calls["n"] += 1
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        (root / dst).write_text("{}")
        if calls["n"] == 1:
            raise DeadKernelError("Kernel died")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    assert runner.main(["run", "--profile", "smoke", "--out", "runs/r", "good"]) == 0
    out = capsys.readouterr()
    assert calls["n"] == 2 and "succeeded on retry 1 after its kernel died" in out.out
    # an exception raised by the chapter itself is not retried
    calls["n"] = 10

    def broken(src, dst, **kwargs):
        calls["n"] += 1
        raise RuntimeError("chapter bug")

    monkeypatch.setattr(papermill, "execute_notebook", broken)
    assert runner.main(["run", "--profile", "smoke", "--out", "runs/r", "good"]) == 1
    assert calls["n"] == 11


def test_a_cell_past_the_timeout_fails_is_not_retried_and_says_which(root, monkeypatch, capsys):
    import papermill

    calls = {"n": 0}

    class CellTimeoutError(Exception):
        pass

    def slow(src, dst, **kwargs):
        calls["n"] += 1
        raise CellTimeoutError("A cell timed out while it was being executed, after 7 seconds.\n"
                               "The message was: Cell execution timed out.\nHere is a preview of the cell contents:\n"
                               "-------------------\ntime.sleep(60)\n-------------------\n")

    monkeypatch.setattr(papermill, "execute_notebook", slow)
    assert runner.main(["run", "--profile", "smoke", "--timeout", "7", "--out", "runs/r", "good"]) == 1
    out = capsys.readouterr().out
    assert calls["n"] == 1  # the user's limit: not retried as if the kernel had stalled
    assert "good     smoke    failed" in out and "a cell ran past the cell timeout of 7 s (--timeout): time.sleep(60)" in out


@pytest.mark.parametrize("chapter, argv, names", [
    ("hessian", ["-p", "milestones", "[4, 40]"], "parameters 'milestones', 'reg_epochs'"),
    ("trajectories", ["-p", "record_every", "5000"], "parameters 'record_every', 'iterations'"),
    ("trajectories", ["-p", "planted_rank", "20"], "parameters 'planted_rank', 'd_in', 'd_out'"),
])
def test_a_cross_parameter_rule_fails_before_any_kernel_starts(monkeypatch, capsys, chapter, argv, names):
    """The real chapters' schemas: a rule between parameters is checked by the runner itself."""
    _forbid_execution(monkeypatch)
    from conftest import REPO

    monkeypatch.setattr(runner, "ensure_kernel", lambda: (_ for _ in ()).throw(AssertionError("a kernel was started")))
    assert runner.main(["run", "--profile", "smoke", "--root", str(REPO), *argv, chapter]) == 2
    err = capsys.readouterr().err
    assert f"chapter {chapter!r}: {names}" in err


def _error(capsys, argv) -> str:
    assert runner.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize("content, message", [
    (b"good: [1, 2\n", "YAML syntax error at line"),
    (b"\xff\xfe good: {}\n", "not UTF-8 text"),
    (b"- good\n- bad\n", "expected a mapping of chapter names to parameters, got list"),
    (b"good: 3\n", "chapter 'good' must map parameter names to values, got int 3"),
    (b"good:\n  profile: gpu\n", "chapter 'good' sets 'profile'"),
])
def test_a_broken_profile_is_one_error_line(root, monkeypatch, capsys, content, message):
    _forbid_execution(monkeypatch)
    (root / "profiles" / "smoke.yaml").write_bytes(content)
    err = _error(capsys, ["run", "--profile", "smoke", "good"])
    assert "profiles/smoke.yaml: " + message in err


def test_a_missing_profile_file(root, monkeypatch, capsys):
    _forbid_execution(monkeypatch)
    (root / "profiles" / "gpu.yaml").unlink()
    assert "profiles/gpu.yaml: no such profile file" in _error(capsys, ["run", "--profile", "gpu", "good"])


@pytest.mark.parametrize("argv, message", [
    (["-p", "profile", "cpu"], "-p profile cpu: the profile is chosen with --profile, not -p"),
    (["-p", "n", "[1, 2"], "-p n '[1, 2': not a YAML value"),
    (["--slurm-time", "30", "--slurm-gpus", "1"], "--slurm-time, --slurm-gpus: only for --executor slurm"),
    (["--fan-out", "4"], "--fan-out: only for --executor slurm"),
    (["--executor", "slurm", "--jobs", "2"], "--jobs: only for --executor local"),
])
def test_options_that_cannot_work_are_refused(root, monkeypatch, capsys, argv, message):
    _forbid_execution(monkeypatch)
    assert message in _error(capsys, ["run", "--profile", "smoke", *argv, "good"])


def test_fan_out_without_a_cache_is_refused(root, monkeypatch, capsys):
    _forbid_execution(monkeypatch)
    monkeypatch.setenv("LANDSCAPE_CACHE", "off")
    assert "--fan-out: LANDSCAPE_CACHE is off" in _error(capsys, ["run", "--profile", "smoke", "--executor", "slurm",
                                                                 "--fan-out", "2", "good"])


@pytest.mark.parametrize("flag", ["--jobs", "--slurm-time", "--fan-out"])
def test_counts_of_zero_are_refused(root, capsys, flag):
    with pytest.raises(SystemExit) as exc:
        runner.main(["run", "--profile", "smoke", flag, "0", "good"])
    assert exc.value.code == 2 and "0 (must be 1 or more)" in capsys.readouterr().err


@pytest.mark.chapters
def test_jobs_run_chapters_at_once_and_publish_as_one_by_one_does(root, capsys):
    """--jobs 2: both chapters in worker processes at the same time (each notebook records its start and end),
    the closing table in the chapters' order, the good one published and the bad one not."""
    for name in ("good", "bad"):
        nb = nbformat.read(root / "book" / f"{name}.ipynb", as_version=4)
        nb.cells.insert(2, nbformat.v4.new_code_cell(
            "import time, pathlib\nt0 = time.time(); time.sleep(3)\n"
            f"pathlib.Path('{root}/span-{name}').write_text(f'{{t0}} {{time.time()}}')"))
        nbformat.write(nb, root / "book" / f"{name}.ipynb")
    before_bad = (root / "book" / "bad.ipynb").read_bytes()
    code = runner.main(["run", "--profile", "smoke", "--jobs", "2", "--publish", "--out", "runs/j", "good", "bad"])
    out = capsys.readouterr().out
    assert code == 1
    rows = [line.split() for line in out.splitlines() if line.startswith(("good ", "bad "))]
    assert [(r[0], r[2]) for r in rows[:2]] == [("good", "ok"), ("bad", "failed")]
    assert "chapter body failed" in out
    (a0, a1), (b0, b1) = ([float(x) for x in (root / f"span-{n}").read_text().split()] for n in ("good", "bad"))
    assert a0 < b1 and b0 < a1, "the two chapters did not run at the same time"
    assert json.loads((root / "book" / "good.ipynb").read_text())["metadata"]["papermill"]["parameters"]["n"] == 2
    assert (root / "book" / "bad.ipynb").read_bytes() == before_bad


def test_a_run_folder_that_cannot_be_made(root, monkeypatch, capsys):
    _forbid_execution(monkeypatch)
    (root / "afile").write_text("x")
    assert "cannot create the run folder" in _error(capsys, ["run", "--profile", "smoke", "--out", "afile/run", "good"])


@pytest.mark.parametrize("flag", ["--timeout", "--retries"])
def test_negative_timeout_and_retries_are_refused(root, capsys, flag):
    with pytest.raises(SystemExit) as exc:
        runner.main(["run", flag, "-1", "good"])
    assert exc.value.code == 2 and "is negative" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["-p", "device", "banana"], "chapter 'template': parameter 'device': Invalid device: 'banana'"),
    (["-p", "seeds", "[0, 0]"], "'seeds': [0, 0] lists 0 twice"),
])
def test_device_and_repeated_seeds_fail_before_any_kernel(monkeypatch, capsys, argv, message):
    from conftest import REPO

    _forbid_execution(monkeypatch)
    assert message in _error(capsys, ["run", "--profile", "smoke", "--root", str(REPO), *argv, "template"])


def test_two_runs_never_share_a_folder(root):
    first = runner._fresh_run_folder(root, "smoke")
    (root / first).mkdir(parents=True)
    second = runner._fresh_run_folder(root, "smoke")
    assert second != first and second.name.startswith(first.name)


def test_the_private_kernel_folder_is_removed(root, monkeypatch):
    import papermill

    seen = {}

    def fake(src, dst, **kwargs):
        seen["path"] = os.environ["JUPYTER_PATH"].split(os.pathsep)[0]
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        (root / dst).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    assert runner.main(["run", "--profile", "smoke", "--out", "runs/k", "good"]) == 0
    assert "landscape-jupyter-" in seen["path"] and not Path(seen["path"]).exists()
    assert seen["path"] not in os.environ.get("JUPYTER_PATH", "")


def _glue(name, value):
    from landscape.publishing.page import GLUE_PREFIX

    return nbformat.v4.new_output("display_data", data={GLUE_PREFIX + "text/plain": repr(value)},
                                  metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


def test_the_answer_follows_the_closing_table(root):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [_glue("claim-1.10-verdict", "inconclusive"), _glue("claim-1.10-value", 0.0123456), _glue("claim-1.10-threshold", "> 0.05"),
                    _glue("claim-1.2-verdict", "reproduced"), _glue("claim-1.2-value", 3), _glue("claim-1.2-threshold", ">= 2"),
                    _glue("claim-1.2-v1-verdict", "not reproduced"), _glue("claim-1.2-null-verdict", "not reproduced"),
                    _glue("claim-1.10-variant-verdict", "reproduced")]
    nb.cells = [cell]
    (root / "runs" / "a").mkdir(parents=True)
    nbformat.write(nb, root / "runs" / "a" / "good.ipynb")
    results = [runner.Result("good", "smoke", "ok", 1.0, "CPU", "runs/a/good.ipynb", published=True),
               runner.Result("bad", "smoke", "interrupted", 0.1, "?", "runs/a/bad.ipynb", "interrupted")]
    text = runner.format_answers(results, root)
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines.pop(0) == "The answer, chapter by chapter:"
    assert lines[0] == "good (smoke, ok): 2 claims"
    assert lines[1].split() == ["1.2", "reproduced", "3", "(reproduced", "when", ">=", "2;", "its", "null:", "not", "reproduced)"]  # 1.2 before 1.10
    assert lines[2].split()[:3] == ["1.10", "inconclusive", "0.01235"] and lines[2].endswith("(reproduced when > 0.05; its variant: reproduced)")
    assert lines[3] == "executed notebook: runs/a/good.ipynb"
    assert lines[4].endswith("-m nbconvert --to html runs/a/good.ipynb")
    assert "published to book/good.ipynb: make html" in lines[5]
    assert "bad" not in text                                            # an interrupted chapter has no answer


class _Tty:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_names_the_cell_and_its_heading(root, monkeypatch):
    monkeypatch.delenv("LANDSCAPE_PROGRESS", raising=False)
    nb = nbformat.read(root / "book" / "good.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("Some text\n\n## Training, cached"))
    nbformat.write(nb, root / "book" / "good.ipynb")
    tty = _Tty()
    hook = runner.cell_progress("good", root / "book" / "good.ipynb", stream=tty)
    injected = nbformat.v4.new_code_cell("n = 2")
    injected.metadata["tags"] = ["injected-parameters"]
    for i, cell in enumerate([nb.cells[1], injected, nb.cells[3], nb.cells[4]]):
        hook(cell=cell, cell_index=i)
    shown = [line.strip() for line in tty.text.split("\r") if line.strip()]
    assert shown == ["[landscape] good: cell 1 of 4 - Fake", "[landscape] good: cell 2 of 4 - parameters (injected)",
                     "[landscape] good: cell 3 of 4 - Training, cached", "[landscape] good: cell 4 of 4 - Training, cached"]
    hook.finish()
    assert tty.text.endswith("\r")
    assert runner.cell_progress("good", root / "book" / "good.ipynb", stream=io.StringIO()) is None   # not a terminal
    monkeypatch.setenv("LANDSCAPE_PROGRESS", "0")
    assert runner.cell_progress("good", root / "book" / "good.ipynb", stream=tty) is None


def test_kernel_folders_of_dead_runners_are_swept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    gone = tmp_path / f"landscape-jupyter-{dead}-abc"
    mine = tmp_path / f"landscape-jupyter-{os.getpid()}-abc"
    other = tmp_path / "landscape-jupyter-oldstyle"       # no pid in the name: another runner's, maybe live
    for f in (gone, mine, other):
        (f / "kernels").mkdir(parents=True)
    assert runner.sweep_kernel_dirs(tmp_path) == [gone]
    assert not gone.exists() and mine.exists() and other.exists()


@pytest.mark.chapters
def test_a_run_prints_no_tcp_warning_and_leaves_no_kernel_folder(root, tmp_path_factory, monkeypatch, capfd):
    tmp = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert runner.main(["run", "--profile", "smoke", "--out", "runs/w", "good"]) == 0
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err
    assert "good (smoke, ok): no claims decided" in out and "executed notebook: runs/w/good.ipynb" in out
    assert not list(tmp.glob("landscape-jupyter-*"))
