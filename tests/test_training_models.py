import pytest
import torch

from landscape.training import models
from landscape.training.models import DeepLinear, GeneralizedReLU, LeNet5, MLP, build, layers


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("mlp", dict(in_features=64, widths=[16, 8], out_features=10, activation="sigmoid"), (3, 1, 8, 8)),
        ("lenet5", dict(input_size=28), (3, 1, 28, 28)),
        ("lenet5", dict(input_size=8), (3, 1, 8, 8)),
        ("lenet5", dict(in_channels=3, input_size=32), (3, 3, 32, 32)),
        ("vgg", dict(channels=(8, 16)), (3, 3, 32, 32)),
        ("resnet", dict(widths=(8, 16), blocks=1), (3, 3, 32, 32)),
    ],
)
def test_models_map_inputs_to_class_scores(name, kwargs, shape):
    m = build(name, seed=0, **kwargs)
    assert m(torch.rand(shape)).shape == (3, 10)


def test_layers_are_weights_with_their_biases_in_order():
    m = build("lenet5", input_size=28)
    assert list(layers(m)) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert layers(m)["fc2"] == ["fc2.weight", "fc2.bias"]
    params = dict(m.named_parameters())
    covered = [n for names in layers(m).values() for n in names]
    assert sorted(covered) == sorted(params)  # every parameter belongs to one layer
    r = build("resnet", widths=(4,), blocks=1)
    assert "stages.0.conv1" in layers(r) and layers(r)["stages.0.conv1"] == ["stages.0.conv1.weight"]
    assert list(layers(DeepLinear([3, 4, 2]))) == ["W1", "W2"]


def test_deep_linear_product_is_the_end_to_end_map():
    m = build("linear", dims=[5, 4, 3, 2], init_scale=0.5, seed=1)
    x = torch.randn(7, 5)
    assert torch.allclose(m(x), x @ m.product().T, atol=1e-6)
    assert m.product().shape == (2, 5)
    small = build("linear", dims=[5, 4, 2], init_scale=1e-3, seed=1)
    assert small.product().abs().max() < 1e-4


def test_generalized_relu_and_activations():
    f = GeneralizedReLU(0.25)
    assert torch.equal(f(torch.tensor([-4.0, 0.0, 2.0])), torch.tensor([-1.0, 0.0, 2.0]))
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="Invalid alpha"):
            GeneralizedReLU(bad)
    m = MLP(4, [3], 2, activation="grelu", slope=0.3)
    assert isinstance(m.act1, GeneralizedReLU) and m.act1.alpha == 0.3
    with pytest.raises(ValueError, match="Invalid activation: 'swish'"):
        MLP(4, [3], 2, activation="swish")


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build("mlp", in_features=4, widths=[3], out_features=2, seed=5)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = build("mlp", in_features=4, widths=[3], out_features=2, seed=5)
    c = build("mlp", in_features=4, widths=[3], out_features=2, seed=6)
    assert torch.equal(a.fc1.weight, b.fc1.weight) and not torch.equal(a.fc1.weight, c.fc1.weight)
    assert build("mlp", in_features=4, widths=[3], out_features=2, dtype=torch.float64).fc1.weight.dtype == torch.float64


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="Invalid model: 'transformer'"):
        build("transformer")
    with pytest.raises(ValueError, match="Invalid widths"):
        MLP(4, [0], 2)
    with pytest.raises(ValueError, match="Invalid input_size"):
        LeNet5(input_size=4)
    with pytest.raises(ValueError, match="Invalid dims"):
        DeepLinear([3])
    assert models.num_parameters(MLP(4, [3], 2)) == 4 * 3 + 3 + 3 * 2 + 2
