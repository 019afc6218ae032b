import pytest

from landscape.params import Param, ParameterError, Schema

S = Schema(
    epochs=Param(int, "training epochs", low=1, high=100),
    lr=Param(float, "learning rate", low=0.0),
    name=Param(str, "data set", choices=("digits", "mnist10k")),
    seeds=Param(list, "seeds", item=int, low=0, min_len=1),
    root=Param(str, "data root", nullable=True),
)
GOOD = {"epochs": 3, "lr": 1, "name": "digits", "seeds": [0, 1], "root": None}


def test_valid_values_pass_and_int_becomes_float():
    out = S.validate(GOOD)
    assert out == {**GOOD, "lr": 1.0} and isinstance(out["lr"], float)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("epochs", 0, r"'epochs': 0 is below the minimum 1"),
        ("epochs", 101, r"'epochs': 101 is above the maximum 100"),
        ("epochs", 2.5, r"'epochs': expected int, got float"),
        ("epochs", True, r"'epochs': expected int, got bool"),
        ("lr", "0.1", r"'lr': expected float, got str"),
        ("lr", float("nan"), r"'lr': NaN"),
        ("name", "cifar", r"'name': 'cifar' is not one of 'digits', 'mnist10k'"),
        ("seeds", [], r"'seeds': needs at least 1"),
        ("seeds", [0, -1], r"'seeds\[1\]': -1 is below the minimum 0"),
        ("seeds", 3, r"'seeds': expected a list"),
        ("epochs", None, r"'epochs': None is not allowed"),
    ],
)
def test_bad_values_name_the_parameter(name, value, message):
    with pytest.raises(ParameterError, match=message):
        S.validate({**GOOD, name: value})


def test_missing_and_unknown_names():
    with pytest.raises(ParameterError, match="missing parameter: lr"):
        S.validate({k: v for k, v in GOOD.items() if k != "lr"})
    with pytest.raises(ParameterError, match="unknown parameter 'epoch'"):
        S.validate({**GOOD, "epoch": 3}, allow_extra=False)
    # a notebook's globals hold much else: ignored by default
    assert S.validate({**GOOD, "np": object()})["epochs"] == 3
