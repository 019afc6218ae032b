"""Every figure every chapter's page shows is readable in the book's column: each chapter runs
on the smoke profile through papermill, as the runner runs it, with a startup file in its kernel
(tests/figure_probe.py) that measures each figure as it is rendered - the inline figures, those
drawn in the notebooks, the live controls' first figures and every state of each precomputed
``page.explore`` control - with :func:`landscape.experiment.style.displayed_texts`.

The rule (issue 19, item 1): every text a figure draws shows at least at the body text's
``small`` size, :data:`~landscape.experiment.style.SMALL_PX`, when the figure is shown in the
:data:`~landscape.experiment.style.COLUMN_PX` column; an explore state is one PNG no wider
than the column; and no legend is drawn over the data it names.

The chapters run once per test session, in the ``smoke_run`` fixture that tests/test_chapters.py
shares (conftest.py), with the probe in every kernel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from landscape.chapters import CHAPTERS
from landscape.experiment.style import COLUMN_PX, SMALL_PX

pytestmark = pytest.mark.chapters
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke(smoke_run):
    """``smoke(chapter) -> (the probe's records, the executed notebook)`` from the one smoke run of
    the session (conftest.py); fails the test if the chapter did not run."""
    results, out, figures = smoke_run

    def get(chapter: str):
        res = results[chapter]
        assert res.status == "ok", f"{chapter} did not run: {res.error}"
        return figures.get(chapter, []), out / Path(CHAPTERS[chapter]).name

    return get


def test_every_measured_figure_belongs_to_a_chapter(smoke_run):
    """The probe names each figure's chapter from the kernel's ``ch``; a figure it cannot place
    would escape the per-chapter checks below."""
    _, _, figures = smoke_run
    assert None not in figures, f"{len(figures[None])} figures drawn before page.start named the chapter: {figures[None][:3]}"
    assert set(figures) <= set(CHAPTERS)


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


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_no_legend_hides_data(smoke, chapter):
    """A legend drawn over the curves or points it names hides what the figure is for
    (:func:`~landscape.experiment.style.hidden_by_legends`); the theme moves each one off its data
    as the figure is shown (:func:`~landscape.experiment.style.fit_legends`). Before it did, 31
    legends of 6 chapters hid data on this run."""
    records, _ = smoke(chapter)
    hiding = [(r["cell"], r["title"], h) for r in records if r["kind"] == "figure" for h in r.get("hidden", [])]
    assert not hiding, f"{chapter}: {len(hiding)} legends hide data:\n" + "\n".join(
        f"  cell {cell}: {title[:60]!r}, panel {h[0]!r}: {h[1]} of {h[2]} points under the legend" for cell, title, h in hiding)


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
