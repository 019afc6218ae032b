import pytest

from landscape.experiment.params import Param, ParameterError, Rule, Schema

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
    assert out.as_dict() == {**GOOD, "lr": 1.0} and isinstance(out.lr, float)


def test_params_are_frozen_typed_attributes():
    p = S.validate(GOOD)
    assert p.epochs == 3 and p.seeds == (0, 1) and p.root is None
    with pytest.raises(AttributeError, match="frozen"):
        p.epochs = 4
    with pytest.raises(AttributeError, match="no parameter 'epoch'"):
        p.epoch
    q = p.replace(epochs=5)
    assert q.epochs == 5 and p.epochs == 3 and q.seeds == p.seeds
    with pytest.raises(ParameterError, match="'epochs': 0 is below the minimum 1"):
        p.replace(epochs=0)
    with pytest.raises(ParameterError, match="unknown parameter 'epoch'"):
        p.replace(epoch=5)
    m = Schema(table=Param(dict, "a mapping")).validate({"table": {"a": [1, 2]}})
    with pytest.raises(TypeError):
        m.table["b"] = 1
    assert m.table["a"] == (1, 2) and m.as_dict() == {"table": {"a": [1, 2]}}


RULED = Schema(
    epochs=Param(int, "training epochs", low=1),
    milestones=Param(list, "lr drops", item=int, low=0),
    rules=[Rule(("milestones", "epochs"), lambda p: all(m < p.epochs for m in p.milestones), "be below epochs")],
)


def test_a_cross_parameter_rule_names_both_parameters():
    assert RULED.validate({"epochs": 10, "milestones": [3, 6]}).milestones == (3, 6)
    with pytest.raises(ParameterError, match=r"parameters 'milestones', 'epochs': milestones \[3, 12\], epochs 10 \(must be below epochs\)"):
        RULED.validate({"epochs": 10, "milestones": [3, 12]})
    with pytest.raises(ParameterError, match="unknown parameter 'epoch' in a rule"):
        Schema(epochs=Param(int, "e"), rules=[Rule(("epoch",), lambda p: True, "x")])
    words = Schema(a=Param(int, "a"), rules=[Rule(("a",), lambda p: None if p.a % 2 == 0 else f"{p.a} is odd", "be even")])
    with pytest.raises(ParameterError, match=r"parameter 'a': 3 is odd; a 3 \(must be even\)"):
        words.validate({"a": 3})


def test_unique_lists_refuse_a_repeat():
    s = Schema(seeds=Param(list, "seeds", item=int, unique=True))
    with pytest.raises(ParameterError, match=r"'seeds': \[0, 1, 0\] lists 0 twice"):
        s.validate({"seeds": [0, 1, 0]})


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
    assert S.validate({**GOOD, "np": object()}).epochs == 3
