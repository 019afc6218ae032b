"""experiment.records: the JSON records of gpu-profile runs - atomic write / read round trip,
unreadable files, and the per-setting verdicts that the chapters' verdict strips show."""

import json

from landscape.experiment.records import claims_record, read_record, setting_verdicts, write_record
from landscape.experiment.claims import decide


def test_write_read_round_trip_and_unreadable(tmp_path):
    rec = {"rules": "v2", "claims": [{"id": "1.1", "verdict": "reproduced"}], "x": 1.5}
    path = write_record(rec, tmp_path / "sub" / "c-gpu.json")
    assert read_record(path) == rec
    assert not list((tmp_path / "sub").glob("*.tmp"))
    (tmp_path / "bad.json").write_text("{not json")
    assert read_record(tmp_path / "bad.json") is None
    assert read_record(tmp_path / "missing.json") is None


def test_setting_verdicts_per_setting_in_order_and_only_v2():
    rec = {"rules": "v2", "claims": [
        {"id": "1.5", "setting": "mnist10k", "verdict": "reproduced"},
        {"id": "1.1", "setting": "mnist10k", "verdict": "not reproduced"},
        {"id": "1.5", "setting": "fashion-mnist", "verdict": "inconclusive"},
        {"id": 2, "verdict": "reproduced"}]}
    assert setting_verdicts(rec) == {"1.5": [("mnist10k", "reproduced"), ("fashion-mnist", "inconclusive")],
                                     "1.1": [("mnist10k", "not reproduced")], "2": [("", "reproduced")]}
    assert setting_verdicts({**rec, "rules": "v1"}) == {}
    assert setting_verdicts({k: v for k, v in rec.items() if k != "rules"}) == {}
    assert setting_verdicts(None) == {}


def test_claims_record_rows_are_json():
    c = decide("9.9", "a statement", 0.25, ">", 0.1)
    rows = claims_record([c])
    assert rows == [{"id": "9.9", "statement": "a statement", "value": 0.25, "rule": "> 0.1", "verdict": "reproduced"}]
    nan = claims_record([decide("9.8", "not a number", float("nan"), ">", 0.1)])
    assert nan[0]["value"] is None
    json.dumps(rows + nan)
