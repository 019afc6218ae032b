"""Every figure every chapter's page shows is readable in the book's column: each chapter runs
on the smoke profile through papermill, as the runner runs it, with a startup file in its kernel
(tests/figure_probe.py) that measures each figure as it is rendered - the inline figures, those
drawn in the notebooks, the live controls' first figures and every state of each precomputed
``page.explore`` control - with :func:`landscape.experiment.style.displayed_texts`.

The rule (issue 19, item 1): every text a figure draws shows at least at the body text's
``small`` size, :data:`~landscape.experiment.style.SMALL_PX`, when the figure is shown in the
:data:`~landscape.experiment.style.COLUMN_PX` column; an explore state is one PNG no wider
than the column.

The results come from the results cache as the user has it (``$LANDSCAPE_CACHE`` or
``~/.cache/landscape``; warm after a smoke run of the chapters), so a second run takes about
the time of the kernels.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from landscape.chapters import CHAPTERS
from landscape.experiment.style import COLUMN_PX, SMALL_PX
from landscape.publishing import runner

pytestmark = pytest.mark.chapters
REPO = Path(__file__).resolve().parent.parent
USER_CACHE = os.environ.get("LANDSCAPE_CACHE")  # read before conftest gives each test a private one


class SmokeRuns:
    """Each chapter run once on the smoke profile, when a test first asks for it (``-k saddles``
    runs only saddles), with the probe in its kernel; the user's results cache."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.ipydir = tmp / "ipython"
        (self.ipydir / "profile_default" / "startup").mkdir(parents=True)
        shutil.copy(Path(__file__).with_name("figure_probe.py"), self.ipydir / "profile_default" / "startup" / "00-figure-probe.py")
        self.done: dict[str, tuple[list[dict], Path, str | None]] = {}

    def __call__(self, chapter: str) -> tuple[list[dict], Path]:
        """(the probe's records, the executed notebook) of ``chapter``; fails the test if it did not run."""
        if chapter not in self.done:
            self.done[chapter] = self._run(chapter)
        records, executed, error = self.done[chapter]
        assert error is None, f"{chapter} did not run: {error}"
        return records, executed

    def _run(self, chapter: str):
        log = self.tmp / f"{chapter}.jsonl"
        log.write_text("")
        env = {"IPYTHONDIR": str(self.ipydir), "LANDSCAPE_FIGURE_LOG": str(log), "LANDSCAPE_CACHE": USER_CACHE}
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                if v is None:
                    mp.delenv(k, raising=False)
                else:
                    mp.setenv(k, v)
            [res] = runner.run_chapters(runner.plan([chapter], "smoke", [], REPO), "smoke", REPO, self.tmp / "run", timeout=600, retries=1)
        records = [json.loads(line) for line in log.read_text().splitlines()]
        return records, self.tmp / "run" / Path(CHAPTERS[chapter]).name, None if res.status == "ok" else res.error


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return SmokeRuns(tmp_path_factory.mktemp("figures"))


def _summary(figs):
    return "\n".join(f"  cell {r['cell']}: {r['smallest'][0]['px']:.1f} px ({r['smallest'][0]['pt']:.1f} pt, "
                     f"{r['width_px']:.0f} px wide) {r['smallest'][0]['text']!r} in {r['title']!r}" for r in figs)


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_every_figure_shows_its_text_at_least_at_the_small_size(smoke, chapter):
    records, _ = smoke(chapter)
    figs = [r for r in records if r["kind"] == "figure"]
    assert figs, f"{chapter}: the probe saw no figure (is it loaded in the kernel?)"
    assert all(r["smallest"] for r in figs), f"{chapter}: a figure draws no text at all (no axis labels?)"
    small = sorted((r for r in figs if r["smallest"][0]["px"] < SMALL_PX - 1e-9), key=lambda r: r["smallest"][0]["px"])
    print(f"{chapter}: {len(figs)} figures, smallest text {min(r['smallest'][0]['px'] for r in figs):.2f} px")
    assert not small, (f"{chapter}: {len(small)} of {len(figs)} figures show text under {SMALL_PX} px "
                       f"in the {COLUMN_PX} px column:\n{_summary(small)}")


def explore_states(nb_path: Path) -> list[tuple[str, int, list[dict]]]:
    """Each precomputed control's states in an executed notebook's widget state, as the static page
    has them: (stack model id, state index, the outputs it shows)."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    out = []
    for key, model in state.items():
        if model["model_name"] == "StackModel":
            for i, child in enumerate(model["state"]["children"]):
                out.append((key, i, state[child.removeprefix("IPY_MODEL_")]["state"]["outputs"]))
    return out


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_every_explore_state_is_one_png_sized_for_the_column(smoke, chapter):
    _, executed = smoke(chapter)
    states = explore_states(executed)
    assert states, f"{chapter}: no precomputed explore control in the widget state"
    for stack, i, outputs in states:
        where = f"{chapter}, control {stack[:8]}, state {i}"
        shown = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")]
        assert len(shown) == 1, f"{where}: {len(shown)} outputs (one figure per state)"
        assert "image/png" in shown[0]["data"], f"{where}: not a PNG ({sorted(shown[0]['data'])})"
        width = shown[0].get("metadata", {}).get("image/png", {}).get("width")
        assert width is not None and width <= COLUMN_PX, f"{where}: shown {width} px wide (the column is {COLUMN_PX} px)"
