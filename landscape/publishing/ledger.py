"""The claims ledger: every claim of every chapter, read from the executed
notebooks' glued values (``claim-<id>-{statement,value,threshold,verdict}``),
never typed by hand.  Chapters whose gpu-profile run left a record
(``results/<chapter>-gpu.json``, with the claims as decided in that run;
:mod:`landscape.experiment.records`) add a
second verdict per claim: :func:`scale_verdicts`.

:func:`collect` gives the rows; :func:`counts` tallies them by verdict and
paper. The book shows them through the ``claims-ledger`` directive of
:mod:`landscape.publishing.sphinxext`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..chapters import CHAPTERS, module
from ..experiment.claims import VERDICTS
from ..experiment.records import read_record, record_path
from .notebooks import glued

__all__ = ["PAPERS", "Row", "collect", "counts", "scale_verdicts"]

#: claim-id prefix -> citation key of the paper (0 and 6: the template's and the toolkit's own claims)
PAPERS = {
    "0": "template",
    "1": "sankar2021hessian",
    "2": "sinha2020dante",
    "3": "sankar2018trajectories",
    "4": "srinivasan2018adine",
    "5": "sankar2017saddles",
    "6": "toolkit",
}

_CLAIM = re.compile(r"^claim-(?P<id>\d+(?:\.\d+)*)-verdict$")


@dataclass(frozen=True)
class Row:
    id: str
    chapter: str
    notebook: str
    paper: str
    statement: str
    value: object
    threshold: str
    verdict: str
    profile: str
    device: str
    v1_verdict: str | None = None
    null: object = None
    protocol_dependent: bool = False

    @property
    def value_text(self) -> str:
        v = self.value
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return str(v)


def _key(claim_id: str) -> tuple[int, ...]:
    return tuple(int(x) for x in claim_id.split("."))


def collect(root: str | Path, chapters: dict[str, str] | None = None) -> list[Row]:
    """Every glued claim of the chapters' notebooks under ``root``, ordered by id.

    A chapter package may declare ``NULLS`` (claim id -> what the rule's null is): such a
    claim must be glued with its null's score (``claim-<id>-null``), or the ledger refuses it.

    Raises:
        ValueError: a glued verdict that is not one of :data:`~landscape.experiment.claims.VERDICTS`
            (a v1 verdict too), a claim glued without its statement, value or threshold, or a claim
            whose declared rule names a null glued without the null's score.
    """
    chapters = CHAPTERS if chapters is None else chapters
    nulls_of = lambda name: getattr(module(name), "NULLS", {}) if name in CHAPTERS else {}
    root = Path(root)
    rows = []
    for name, nb in chapters.items():
        path = root / nb
        if not path.is_file():
            continue
        values = glued(path)
        for key, verdict in values.items():
            m = _CLAIM.match(key)
            if not m:
                continue
            cid = m["id"]
            if verdict not in VERDICTS:
                raise ValueError(f"{nb}: claim {cid} has verdict {verdict!r}, not one of {VERDICTS}")
            missing = [f for f in ("statement", "value", "threshold") if f"claim-{cid}-{f}" not in values]
            if missing:
                raise ValueError(f"{nb}: claim {cid} is glued without its {', '.join(missing)}")
            v1 = values.get(f"claim-{cid}-v1-verdict")
            if v1 is not None and v1 not in VERDICTS:
                raise ValueError(f"{nb}: claim {cid} has v1 verdict {v1!r}, not one of {VERDICTS}")
            named = nulls_of(name).get(cid)
            if named and f"claim-{cid}-null" not in values:
                raise ValueError(f"{nb}: claim {cid}'s rule names a null ({named}) but the notebook glues no "
                                 f"claim-{cid}-null (the rule must be shown failing on its null)")
            rows.append(Row(
                cid, name, nb, PAPERS.get(cid.split(".")[0], "?"), str(values[f"claim-{cid}-statement"]),
                values[f"claim-{cid}-value"], str(values[f"claim-{cid}-threshold"]), verdict,
                str(values.get("run-profile", "?")), str(values.get("run-device", "?")),
                v1_verdict=v1, null=values.get(f"claim-{cid}-null"),
                protocol_dependent=bool(values.get(f"claim-{cid}-protocol-dependent", False)),
            ))
    return sorted(rows, key=lambda r: _key(r.id))


def counts(rows: list[Row]) -> dict[str, Counter]:
    """``{"all": Counter(verdict), <paper>: Counter(verdict), ...}``."""
    out: dict[str, Counter] = {"all": Counter(r.verdict for r in rows)}
    for r in rows:
        out.setdefault(r.paper, Counter())[r.verdict] += 1
    return out


def scale_verdicts(root: str | Path, chapters: dict[str, str] | None = None) -> dict[str, dict]:
    """``{claim id: {"verdict", "value", "device", "date", "chapter", "settings"}}`` from the records
    that gpu-profile runs left (:func:`landscape.experiment.records.record_path`; unreadable or
    foreign files are skipped; a verdict outside :data:`~landscape.experiment.claims.VERDICTS` raises).
    Only records of the v2 rules count (``"rules": "v2"``). A record may decide a claim once per setting (its claims carry ``"setting"``, e.g. a data set):
    ``settings`` lists ``(setting, verdict)`` in the record's order, ``verdict`` is the first."""
    chapters = CHAPTERS if chapters is None else chapters
    out: dict[str, dict] = {}
    for name in chapters:
        path = record_path(name, root)
        rec = read_record(path)
        if rec is None or rec.get("rules") != "v2":  # a record of the v1 rules is not the paper's setting
            continue
        for c in rec["claims"]:
            if c.get("verdict") not in VERDICTS:
                raise ValueError(f"{path}: claim {c.get('id')} has verdict {c.get('verdict')!r}, not one of {VERDICTS}")
            entry = out.setdefault(str(c["id"]), {"verdict": c["verdict"], "value": c.get("value"), "device": rec.get("device", "?"),
                                                  "date": rec.get("date", "?"), "chapter": name, "settings": []})
            entry["settings"].append((str(c.get("setting", "")), c["verdict"]))
    return out
