"""Hand-written ResNets (cnnkit.models.resnet_imagenet, resnet_cifar) against torchvision and by
hand."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from cnnkit.models.resnet_cifar import CIFAR_DEPTHS, CifarResNet, resnet_cifar
from cnnkit.models.resnet_imagenet import (
    RESNET_CONFIGS,
    BasicBlock,
    Bottleneck,
    ResNet,
    ZeroPadShortcut,
    resnet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)

DEPTHS = (18, 34, 50, 101, 152)
# torchvision's counts (issue 8 states 18, 50 and 152; 34 and 101 are checked live below too)
PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def record_shape(shapes: dict, name: str):
    """A forward hook storing the first output shape of a module under ``name``."""

    def hook(module, inputs, output):
        shapes.setdefault(name, tuple(output.shape))  # returns None: the output is left alone

    return hook


@pytest.fixture(scope="module", params=DEPTHS, ids=lambda d: f"resnet{d}")
def pair(request):
    """(depth, torchvision model with random weights and batch-norm statistics, ours loaded)."""
    depth = request.param
    torch.manual_seed(depth)
    theirs = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    # Randomise every batch norm (gamma, beta, running mean and variance) so a swapped or
    # misplaced norm layer would change the outputs; fresh ones are the identity in eval mode.
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    ours = resnet(depth)
    ours.load_state_dict(theirs.state_dict())  # strict: same keys, same shapes
    return depth, theirs.eval(), ours.eval()


# --- ImageNet ResNets against torchvision --------------------------------------------------------


def test_state_dict_keys_and_shapes_match_torchvision(pair):
    _, theirs, ours = pair
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)  # same names, same order
    assert {k: v.shape for k, v in ours_sd.items()} == {k: v.shape for k, v in theirs_sd.items()}


def test_same_outputs_as_torchvision(pair):
    _, theirs, ours = pair
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == (2, 1000)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_state_dict_loads_back_into_torchvision(pair):
    depth, _, ours = pair
    with torch.device("meta"):  # an empty shell: nothing to initialise
        fresh = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    fresh.load_state_dict(ours.state_dict(), assign=True)  # strict, the other way round
    assert all(p.device.type == "cpu" for p in fresh.parameters())


def test_parameter_count_matches_torchvision(pair):
    depth, theirs, ours = pair
    assert n_params(ours) == n_params(theirs) == PARAMS[depth]


@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_arithmetic(depth):
    """50 = 1 + 3*(3+4+6+3) + 1: stem conv + convs in the blocks + fc (no projections)."""
    block, layers = RESNET_CONFIGS[depth]
    convs_per_block = {BasicBlock: 2, Bottleneck: 3}[block]
    assert 1 + convs_per_block * sum(layers) + 1 == depth
    with torch.device("meta"):
        model = resnet(depth)
    main_path = [
        m
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in name
    ]
    assert len(main_path) == depth


def test_named_builders_and_num_classes():
    builders = {18: resnet18, 34: resnet34, 50: resnet50, 101: resnet101, 152: resnet152}
    with torch.device("meta"):  # no memory, no initialisation cost
        for depth, build in builders.items():
            model = build(num_classes=7)
            assert isinstance(model, ResNet)
            assert n_params(model) == n_params(resnet(depth, num_classes=7))
            assert model.fc.out_features == 7


def test_resnet50_stage_shapes_for_a_batch_of_224_images():
    """The ResNet-50 shape walkthrough's trace for [10, 3, 224, 224]: stem, max-pool, the four
    stages, global pool, fc (on the meta device)."""
    with torch.device("meta"):
        model = resnet(50)
        x = torch.empty(10, 3, 224, 224)
    shapes = {}
    names = ["relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    for name in names:
        module = getattr(model, name)
        module.register_forward_hook(record_shape(shapes, name))
    assert model(x).shape == (10, 1000)
    assert shapes == {
        "relu": (10, 64, 112, 112),
        "maxpool": (10, 64, 56, 56),
        "layer1": (10, 256, 56, 56),
        "layer2": (10, 512, 28, 28),
        "layer3": (10, 1024, 14, 14),
        "layer4": (10, 2048, 7, 7),
        "avgpool": (10, 2048, 1, 1),
        "fc": (10, 1000),
    }


@pytest.mark.parametrize("bad", [0, 20, 56, 200, 50.0, "50", True, None])
def test_unsupported_depth_lists_valid_depths(bad):
    with pytest.raises(ValueError, match="valid depths are 18, 34, 50, 101, 152"):
        resnet(bad)


# --- blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block, in_channels, channels, stride, projected",
    [
        (BasicBlock, 64, 64, 1, False),  # ResNet-18 layer1: shape kept
        (BasicBlock, 64, 128, 2, True),  # first block of layer2: halves H, W and doubles C
        (BasicBlock, 64, 64, 2, True),  # stride alone
        (BasicBlock, 64, 128, 1, True),  # channels alone
        (Bottleneck, 64, 64, 1, True),  # ResNet-50 layer1.0: 64 -> 256 channels, stride 1
        (Bottleneck, 256, 64, 1, False),  # ResNet-50 layer1.1
        (Bottleneck, 256, 128, 2, True),  # ResNet-50 layer2.0
        (Bottleneck, 512, 128, 1, False),
    ],
)
def test_projection_shortcut_exactly_where_the_shape_changes(
    block, in_channels, channels, stride, projected
):
    b = block(in_channels, channels, stride)
    out_channels = channels * block.expansion
    assert (b.downsample is not None) == projected
    if projected:
        conv, bn = b.downsample
        assert conv.weight.shape == (out_channels, in_channels, 1, 1)
        assert conv.stride == (stride, stride) and conv.bias is None
        assert bn.num_features == out_channels
    x = torch.randn(2, in_channels, 9, 9)
    expected_hw = (9 - 1) // stride + 1  # ceil(9 / stride)
    assert b(x).shape == (2, out_channels, expected_hw, expected_hw)


@pytest.mark.parametrize("depth", DEPTHS)
def test_projections_sit_in_the_first_block_of_a_stage_only(depth):
    with torch.device("meta"):
        model = resnet(depth)
    projected = {
        n.removesuffix(".downsample") for n, _ in model.named_modules() if n.endswith(".downsample")
    }
    first_blocks = {"layer2.0", "layer3.0", "layer4.0"}
    if RESNET_CONFIGS[depth][0] is Bottleneck:
        first_blocks.add("layer1.0")  # 64 -> 256 channels although the stride is 1
    assert projected == first_blocks


def test_bottleneck_parameter_count_by_hand():
    b = Bottleneck(256, 64)  # 256 -> 64 -> 64 -> 256, identity shortcut
    convs = 256 * 64 + 9 * 64 * 64 + 64 * 256
    norms = 2 * (64 + 64 + 256)
    assert convs == 69_632
    assert n_params(b) == convs + norms
    # the same width with two 3x3 convs (a basic block at 256 channels) costs ~17x more
    assert n_params(BasicBlock(256, 256)) == 2 * 9 * 256 * 256 + 2 * 2 * 256


def test_bottleneck_strides_on_its_3x3_conv():  # torchvision's "v1.5"
    b = Bottleneck(256, 128, stride=2)
    assert (b.conv1.stride, b.conv2.stride, b.conv3.stride) == ((1, 1), (2, 2), (1, 1))


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    x = torch.randn(2, 3, 7, 7)
    out = ZeroPadShortcut(3, 5, stride=2)(x)
    assert out.shape == (2, 5, 4, 4)  # ceil(7 / 2), as a 3x3 conv with padding 1 and stride 2
    torch.testing.assert_close(out[:, :3], x[:, :, ::2, ::2])
    assert torch.all(out[:, 3:] == 0)
    with pytest.raises(ValueError, match="only add channels"):
        ZeroPadShortcut(5, 3)


def test_zero_pad_block_has_no_shortcut_parameters():
    b = BasicBlock(16, 32, stride=2, shortcut="zero_pad")
    assert isinstance(b.downsample, ZeroPadShortcut)
    assert n_params(b) == 9 * 16 * 32 + 9 * 32 * 32 + 2 * 2 * 32
    assert b(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
    with pytest.raises(ValueError, match="shortcut must be one of"):
        BasicBlock(16, 32, shortcut="identity")


# --- CIFAR ResNets --------------------------------------------------------------------------


def cifar_params_by_hand(n: int, num_classes: int = 10) -> int:
    """Option A: every parameter is a 3x3 conv weight or a batch norm's gamma and beta."""

    def conv_bn(c_in, c_out):
        return 9 * c_in * c_out + 2 * c_out

    stem = conv_bn(3, 16)
    stage1 = n * 2 * conv_bn(16, 16)
    stage2 = conv_bn(16, 32) + conv_bn(32, 32) + (n - 1) * 2 * conv_bn(32, 32)
    stage3 = conv_bn(32, 64) + conv_bn(64, 64) + (n - 1) * 2 * conv_bn(64, 64)
    fc = 64 * num_classes + num_classes
    return stem + stage1 + stage2 + stage3 + fc


def test_resnet20_parameter_count():
    assert cifar_params_by_hand(3) == 269_722
    assert n_params(resnet_cifar(20)) == 269_722  # the paper's "0.27M"
    # option B adds a 1x1 conv + batch norm at the two shape changes (16->32, 32->64)
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert n_params(resnet_cifar(20, shortcut="projection")) == 269_722 + projections == 272_474
    assert n_params(resnet_cifar(20, num_classes=100)) == cifar_params_by_hand(3, 100)


@pytest.mark.parametrize(
    "depth, paper_millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]
)
def test_cifar_resnets_parameter_counts_and_shapes(depth, paper_millions):
    model = resnet_cifar(depth)
    n = (depth - 2) // 6
    assert isinstance(model, CifarResNet) and len(model.layer1) == n
    count = n_params(model)
    assert count == cifar_params_by_hand(n)
    assert round(count / 1e6, 2 if depth < 110 else 1) == paper_millions  # Table 6 of the paper
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cifar_stage_shapes():
    model = resnet_cifar(20)
    shapes = {}
    for name in ["relu", "layer1", "layer2", "layer3", "avgpool"]:
        module = getattr(model, name)
        module.register_forward_hook(record_shape(shapes, name))
    model(torch.randn(2, 3, 32, 32))
    assert shapes == {
        "relu": (2, 16, 32, 32),
        "layer1": (2, 16, 32, 32),
        "layer2": (2, 32, 16, 16),
        "layer3": (2, 64, 8, 8),
        "avgpool": (2, 64, 1, 1),
    }


@pytest.mark.parametrize("bad", [0, 2, 18, 21, 51, 20.0, "20", True])
def test_cifar_depth_must_be_6n_plus_2(bad):
    with pytest.raises(ValueError, match=r"6n \+ 2"):
        resnet_cifar(bad)


def test_cifar_depths_constant():
    assert all((d - 2) % 6 == 0 for d in CIFAR_DEPTHS)


def test_resnet20_can_fit_a_small_batch():
    """Smoke test: a few Adam steps drive the loss on 16 fixed random images well down."""
    torch.manual_seed(0)
    model = resnet_cifar(20)
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
