"""Training cost (archprof.training): backward MACs against FlopCounterMode and hand arithmetic,
saved memory against what autograd really keeps, the step's peak against PyTorch's MemTracker
under FakeTensorMode, `fit` and the CLI's bad input."""
from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import pytest
import torch
import tracing_models as tm
from click.testing import CliRunner
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.cli import main
from archprof.model.network import build
from archprof.spec.expand import expand
from archprof.trace import trace
from archprof.training import fit, plan


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- backward MACs ----------------------------------------------------------------------------
def test_lenet5_by_hand():
    """Every layer of LeNet-5 at batch 1. Backward MACs: conv/linear compute the gradient w.r.t.
    the input and w.r.t. the weights, each as many MACs as the forward; c1 reads the batch,
    which needs no gradient. Saved: what autograd keeps, each tensor at the first op keeping
    it (the batch kept by c1 is counted apart; tanh keeps its output, which the pool after it
    and the next conv or linear keep too)."""
    a = archprof.analyze("lenet5", train=True, optimizer="momentum")
    got = {r.name: (r.backward_macs, r.saved) for r in a.layers.itertuples()}
    assert got == {
        "c1.conv": (28 * 28 * 6 * (5 * 5 * 1), 0),                     # 117,600: weights only
        "c1.tanh": (0, 6 * 28 * 28),                                   # its output: 4,704
        "s2": (0, 0),                                                  # its input: c1.tanh's
        "c3.conv": (2 * 10 * 10 * 16 * (5 * 5 * 6), 6 * 14 * 14),      # 480,000; s2's output
        "c3.tanh": (0, 16 * 10 * 10),                                  # 1,600
        "s4": (0, 0),
        "c5.conv": (2 * 1 * 1 * 120 * (5 * 5 * 16), 16 * 5 * 5),       # 96,000; 400
        "c5.tanh": (0, 120),
        "flatten": (0, 0),                                             # a view
        "f6.linear": (2 * 120 * 84, 0),                                # 20,160; keeps the view
        "f6.tanh": (0, 84),
        "output": (2 * 84 * 10, 0),                                    # 1,680
    }
    t = a.totals
    assert t["backward_macs"] == 117_600 + 480_000 + 96_000 + 20_160 + 1_680 == 715_440
    assert t["train_macs"] == 416_520 + 715_440
    assert t["train_saved_bytes"] == 4 * (4_704 + 1_176 + 1_600 + 400 + 120 + 84)
    # weights, their gradients and one momentum buffer per weight, float32
    assert t["train_params_bytes"] == t["train_grads_bytes"] == t["train_optimizer_bytes"] \
        == 4 * 61_706


def flop_counter_backward(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(forward FLOPs, backward FLOPs) that FlopCounterMode counts for one step."""
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        forward = counter.get_total_flops()
        outs = out if isinstance(out, tuple) else (out,)
        sum(o.sum() for o in outs).backward()
    return forward, counter.get_total_flops() - forward


@pytest.mark.parametrize("name", ["vgg11", "resnet18", "googlenet", "densenet121",
                                  "squeezenet1_0"])
def test_backward_macs_match_flop_counter(name):
    """Networks without grouped convolutions: FlopCounterMode's backward FLOPs / 2."""
    model = build(name, device="meta").train()
    x = torch.empty(2, *model.graph.input, device="meta")
    forward, backward = flop_counter_backward(model, x)
    t = archprof.analyze(name, batch=2, train=True).totals
    assert forward == 2 * t["macs"]
    assert backward / 2 == pytest.approx(t["backward_macs"], rel=0.01)


def test_frozen_layers_match_flop_counter():
    """--freeze: frozen layers compute no weight gradient, and nothing below the lowest
    trainable layer computes an input gradient (FlopCounterMode with requires_grad off)."""
    freeze = "stem.*,conv2_x.*,conv3_x.*"
    model = build("resnet18", device="meta").train()
    for name, p in model.named_parameters():
        if name.startswith(("stem.", "conv2_x.", "conv3_x.")):
            p.requires_grad_(False)
    _, backward = flop_counter_backward(model, torch.empty(1, 3, 224, 224, device="meta"))
    t = archprof.analyze("resnet18", train=True, freeze=freeze).totals
    assert backward / 2 == t["backward_macs"]
    assert t["frozen_layers"] == sum(1 for n in expand("resnet18", None, None).nodes
                                     if n.name.startswith(("stem.", "conv2_x.", "conv3_x."))
                                     and n.op.params(n.ins, n.out))
    full = archprof.analyze("resnet18", train=True).totals
    assert t["train_grads_bytes"] < full["train_grads_bytes"]


def test_a_frozen_linear_layer_keeps_no_input():
    """Autograd keeps a linear layer's input only for its weight gradient: frozen between two
    trainable layers (its input gradient still computed), it keeps none. 10 tokens x 16
    features at batch 3 in float32: 1,920 bytes kept by the last layer, none by the frozen
    one (3,840 counted before)."""
    model = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 4))
    for p in model[1].parameters():
        p.requires_grad_(False)
    t = archprof.analyze(model, input=(10, 8), batch=3, train=True, freeze="1").totals
    assert t["train_saved_bytes"] == autograd_saved_bytes(model, torch.randn(3, 10, 8)) \
        == 3 * 10 * 16 * 4
    _, backward = flop_counter_backward(model, torch.randn(3, 10, 8))
    assert backward / 2 == t["backward_macs"]


def test_depthwise_by_hand_where_flop_counter_is_wrong():
    """MobileNet's conv2_dw: 32 channels, 3x3, groups 32, 112x112 out. Each output element is
    9 MACs; grad input and grad weight are 9 MACs per output element each:
    2 * 112*112*32*9 = 7,225,344. FlopCounterMode's conv-backward formula ignores groups for
    the weight gradient: it counts 112*112*32*(32*9) there, 32x too many."""
    a = archprof.analyze("mobilenet_v1", train=True)
    row = a.layers.set_index("name").loc["conv2_dw.conv"]
    assert row["macs"] == 112 * 112 * 32 * 9 == 3_612_672
    assert row["backward_macs"] == 2 * 112 * 112 * 32 * 9 == 7_225_344
    conv = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False, device="meta")
    x = torch.empty(1, 32, 112, 112, device="meta", requires_grad=True)
    forward, backward = flop_counter_backward(conv, x)
    assert forward == 2 * 3_612_672
    assert backward == 2 * (112 * 112 * 32 * 9 + 112 * 112 * 32 * 32 * 9)


# --- saved memory -----------------------------------------------------------------------------
def autograd_saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Distinct storages autograd keeps in a real forward (saved_tensors_hooks), less the
    parameters, buffers and the batch."""
    kept: dict[int, int] = {}
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.setdefault(t.untyped_storage().data_ptr(),
                                      t.untyped_storage().nbytes()) and t, lambda t: t):
        model(x)
    for t in [*model.parameters(), *model.buffers(), x]:
        kept.pop(t.untyped_storage().data_ptr(), None)
    return sum(kept.values())


@pytest.mark.parametrize("name,input", [("lenet5", None), ("mobilenet_v2", (3, 64, 64)),
                                        ("se_resnet50", (3, 32, 32)), ("alexnet", None)])
def test_saved_bytes_equal_what_autograd_keeps(name, input):
    """Distinct storages autograd saves in a real CPU forward (saved_tensors_hooks), less the
    parameters and the batch. CPU dropout keeps a float32 mask where archprof counts CUDA's
    bool one: 3 bytes per element more here."""
    model = build(name, input=input).train()
    saved = autograd_saved_bytes(model, torch.randn(2, *model.graph.input))
    a = archprof.analyze(name, input=input, batch=2, train=True)
    masks = sum(2 * n.out[0] for n in a.graph.nodes if n.op.kind == "dropout")
    assert saved == a.totals["train_saved_bytes"] + 3 * masks


def test_keeps_output_is_what_saved_says():
    """`keeps_output` (which mark_inplace reads, without shapes) agrees with `saved` on every
    node of every zoo network, in place and not."""
    from archprof.errors import SpecError
    seen = 0
    for name in sorted(archprof.registry()):
        for n in expand(name, None, None).nodes:
            for inplace in (False, True):
                try:
                    saved = n.op.saved(n.ins, n.out, inplace)
                except SpecError:       # no training rule (a traced op); keeps nothing
                    continue
                assert saved.output == n.op.keeps_output(inplace), (name, n.name, inplace)
                seen += saved.output
    assert seen > 0


def test_no_op_overwrites_an_output_kept_for_the_backward(write_spec):
    """relu keeps its result for its backward: a second relu reading it makes its own output
    (before, it overwrote the first's, and the built model's backward failed: 'modified by an
    inplace operation'), and so does a leaky relu after it. After a conv (which keeps its
    input), relu still runs in place."""
    path = str(write_spec("- {conv: 4, k: 3, p: 1, name: conv}\n- {relu: , name: r1}\n"
                          "- {relu: , name: r2}\n- {leaky_relu: 0.1, name: r3}", input="[3, 8, 8]"))
    a = archprof.analyze(path, batch=2, train=True)
    made = a.layers.set_index("name")["activations"]
    assert (made["r1"], made["r2"], made["r3"]) == (0, 2 * 256, 2 * 256)
    model = build(path).train()
    x = torch.randn(2, 3, 8, 8)
    model(x).sum().backward()
    assert autograd_saved_bytes(model, x) == a.totals["train_saved_bytes"]


# --- the step's peak against MemTracker ---------------------------------------------------------
def memtracker_peak(make: Callable[[], nn.Module], input: tuple[int, ...], batch: int,
                    optimizer: str = "adam") -> int:
    """Peak bytes of a steady-state step (optimizer state allocated by a first step) that
    MemTracker reports on the model `make()` builds under FakeTensorMode; foreach optimizers,
    as on GPUs."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker
    with FakeTensorMode():
        model = make().train()
        opt = (torch.optim.Adam(model.parameters(), foreach=True) if optimizer == "adam" else
               torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=True))
        x = torch.randn(batch, *input)
        y = torch.randint(0, 10, (batch,))

        def step() -> None:
            opt.zero_grad()
            out = model(x)
            outs = out if isinstance(out, tuple) else (out,)
            sum(nn.functional.cross_entropy(o, y) for o in outs).backward()
            opt.step()

        step()
        tracker = MemTracker()
        tracker.track_external(model, opt, x, y)
        with tracker:
            step()
        return next(iter(tracker.get_tracker_snapshot("peak").values()))["Total"]


@pytest.mark.parametrize("name,batch,optimizer", [
    ("lenet5", 1, "momentum"), ("lenet5", 32, "adam"), ("alexnet", 1, "adam"),
    ("alexnet", 32, "momentum"), ("squeezenet1_0", 32, "momentum"), ("resnet18", 1, "adam"),
    ("resnet18", 32, "momentum")])
def test_training_peak_within_10pct_of_memtracker(name, batch, optimizer):
    """A subset that keeps the suite fast (MemTracker costs seconds per network); the whole
    zoo at batch 1 and 32 with both optimizers is benchmarks/train_memory.py."""
    ours = plan(expand(name, None, None), optimizer=optimizer).peak(batch)[0]
    theirs = memtracker_peak(lambda: build(name), expand(name).input, batch, optimizer)
    assert ours == pytest.approx(theirs, rel=0.10)


@pytest.mark.parametrize("make, input", [(tm.LoopedLinear, (256,)),
                                         (tm.SharedWeights, (3, 16, 16))])
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_training_peak_of_parameters_used_again_against_memtracker(make, input, optimizer):
    """A module called three times, a tied weight: every later use's weight gradient is made
    and summed out of place into one before the op holding the parameter adds its own (2 to
    3 gradients of it alive at once; counting .grad alone missed half of LoopedLinear's peak
    at batch 1 with SGD)."""
    ours = plan(trace(make(), input), optimizer=optimizer).peak(4)[0]
    assert ours == pytest.approx(memtracker_peak(make, input, 4, optimizer), rel=0.01)


def test_memtracker_behaviour_pinned():
    """MemTracker is private API: pin what the comparison relies on. On a bias-free linear
    layer (256x256 weights, 262,144 bytes) after a warm-up step, the peak snapshot counts the
    weights, their gradient and Adam's two state tensors at their bytes, the batch and labels
    passed to track_external as 'Other', and Total as the sum of the categories."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker
    with FakeTensorMode():
        model = nn.Linear(256, 256, bias=False)
        opt = torch.optim.Adam(model.parameters(), foreach=True)
        x, y = torch.randn(4, 256), torch.randint(0, 10, (4,))

        def step() -> None:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        step()
        tracker = MemTracker()
        tracker.track_external(model, opt, x, y)
        with tracker:
            step()
        snap = {getattr(k, "value", k): v
                for k, v in next(iter(tracker.get_tracker_snapshot("peak").values())).items()}
    weights = 256 * 256 * 4
    assert snap["Parameter"] == snap["Gradient"] == weights
    assert 2 * weights <= snap["Optstate"] <= 3 * weights + 64   # m, v, the step's sqrt(v)
    assert snap["Other"] == 4 * 256 * 4 + 4 * 8
    assert snap["Total"] == sum(v for k, v in snap.items() if k != "Total")


def test_mixed_precision_adam_is_16_bytes_per_parameter():
    """DeepSpeed's count for mixed-precision Adam: 2 (weights) + 2 (gradients) + 4 (float32
    master weights) + 8 (two float32 moments). VGG-16 has no buffers."""
    t = archprof.analyze("vgg16", dtype="bfloat16", train=True, optimizer="adam").totals
    model_states = t["train_params_bytes"] + t["train_grads_bytes"] + t["train_optimizer_bytes"]
    assert model_states == 16 * 138_357_544


# --- fit ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,budget,kw", [("resnet50", 16 * 2**30, {}),
                                            ("mobilenet_v2", 8 * 10**9, {"optimizer": "sgd"}),
                                            ("vgg16", 12 * 2**30, {"dtype": "bfloat16"}),
                                            ("resnet18", 2**30, {"infer": True})])
def test_fit_returns_the_largest_batch_that_fits(name, budget, kw):
    graph = expand(name, None, None)
    result = fit(graph, budget, **kw)
    assert result.batch >= 1
    steps = plan(graph, kw.get("dtype", "float32"), kw.get("optimizer", "adam"))

    def peak(b: int) -> int:
        if kw.get("infer"):      # weights, buffers, the most activations alive at once
            t = archprof.analyze(graph, batch=b).totals
            return t["param_bytes"] + 4 * t["buffers"] + t["peak_bytes"]
        return steps.peak(b)[0]

    assert peak(result.batch) == result.peak_bytes <= budget < peak(result.batch + 1)


def test_fit_cli_json_and_sizes():
    code, out, _ = run("fit", "resnet18", "--memory", "16GiB", "--format", "json")
    gib = json.loads(out)
    code2, out2, _ = run("fit", "resnet18", "--memory", "16GB", "--format", "json")
    gb = json.loads(out2)
    assert code == code2 == 0
    assert gib["budget_bytes"] == 16 * 2**30 and gb["budget_bytes"] == 16 * 10**9
    assert gb["batch"] < gib["batch"]
    assert gib["peak_bytes"] <= 16 * 2**30 < gib["next_peak_bytes"]


@pytest.mark.parametrize("args,message", [
    (["fit", "resnet18", "--memory", "abc"], "'abc' is not a size"),
    (["fit", "resnet18", "--memory", "16GiB", "--optimizer", "adagrad"], "'adagrad' is not one of"),
    (["table", "resnet18", "--train", "--optimizer", "lion"], "'lion' is not one of"),
    (["fit", "vgg16", "--memory", "1GiB"], "nothing fits: weights, gradients and optimizer state"),
    (["fit", "vgg16", "--memory", "512MiB", "--infer"], "nothing fits: the weights alone"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_freeze_matching_nothing_warns():
    code, out, err = run("table", "lenet5", "--train", "--freeze", "nothing*")
    assert code == 0 and "backward MACs" in out
    assert err == ("warning: --freeze 'nothing*' matches no layer with weights in lenet5; "
                   "nothing is frozen\n")


def test_table_train_breakdown_and_explain():
    code, out, _ = run("table", "lenet5", "--train", "--optimizer", "momentum")
    assert code == 0
    assert "backward MACs  715,440" in out and "1.13M = 2.72 x forward" in out
    code, out, _ = run("explain", "lenet5", "c3.conv", "--train")
    assert ("backward MACs = grad input 10*10*16*(5*5*6) + grad weight 10*10*16*(5*5*6) = "
            "480,000; saves input 6x14x14: 1,176 new elements per sample") in out
    # at batch 2 the backward of c3 is 2 x 480,000, as `table --train --batch 2` sums it; c1
    # keeps the batch, which the step counts apart
    code, out, _ = run("explain", "lenet5", "--train", "--batch", "2")
    assert "= 480,000 per sample, x 2 = 960,000; saves input 6x14x14" in out
    assert "saves input 1x32x32 (the batch) (counted apart: alive the whole step)" in out
    code, table, _ = run("table", "lenet5", "--train", "--batch", "2", "--format", "json")
    assert {r["name"]: r["backward_macs"] for r in json.loads(table)}["c3.conv"] == 960_000


def static_context(steps, batch: int) -> int:
    """What a step starts with, statically: weights, gradients (alive until zero_grad),
    optimizer state, the batch and its labels."""
    t = steps.totals(batch)
    return (t["train_params_bytes"] + t["train_grads_bytes"] + t["train_optimizer_bytes"]
            + t["train_input_bytes"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vgg11"])
def test_static_step_peak_within_10pct_of_cuda(name):
    """A real step on the GPU: what it allocates above what was allocated when it started
    (max_memory_allocated after reset_peak_memory_stats, less memory_allocated then) against
    the static peak above the static context. The whole peaks also differ by memory the model
    does not own, constant in the batch: the CUDA libraries' workspaces (on an H100 65-72 MiB
    in training steps, 33-36 MiB in inference: a 32 MiB cuBLAS workspace per thread that runs
    matmuls, forward and autograd's backward; reports/README.md) and what earlier tests left."""
    model = build(name, device="cuda").train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(16, *model.graph.input, device="cuda")
    y = torch.randint(0, 10, (16,), device="cuda")
    for i in range(2):
        if i:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    torch.cuda.synchronize()
    steps = plan(expand(name, None, None), optimizer="momentum")
    context = static_context(steps, 16)
    assert before >= context
    assert torch.cuda.max_memory_allocated() - before == pytest.approx(
        steps.peak(16)[0] - context, rel=0.10)


# --- bench --mode train ---------------------------------------------------------------------------
def test_bench_train_rows_beside_inference(tmp_path):
    """Training steps measured on the CPU land in the same results file as inference rows,
    told apart by `mode`. What is allocated before a step (weights, gradients, momentum, the
    batch and its labels) equals archprof's static figures to the byte; the step's peak is
    measured above it."""
    from archprof.measure import bench as B
    out = tmp_path / "results.csv"
    fast = {"device": "cpu", "budget_s": 0.05, "progress": False, "threads": 1, "out": out}
    B.sweep(["lenet5"], (1, 4), **fast)
    df = B.sweep(["lenet5"], (1, 4), mode="train-momentum", **fast)
    assert list(df["mode"]) == ["train-momentum"] * 2 and set(df["status"]) == {"ok"}
    rows = B.load_results(out)
    assert sorted(rows["mode"]) == ["inference"] * 2 + ["train-momentum"] * 2
    steps = plan(expand("lenet5", None, None), optimizer="momentum")
    for r in df.itertuples():
        t = steps.totals(r.batch)
        assert r.mem_context_bytes == (t["train_params_bytes"] + t["train_grads_bytes"]
                                       + t["train_optimizer_bytes"] + t["train_input_bytes"])
        assert r.static_peak_bytes == steps.peak(r.batch)[0]
        assert r.mem_peak_bytes > r.mem_context_bytes
        assert r.macs == archprof.analyze("lenet5", train=True).totals["train_macs"]


def test_bench_train_defaults_to_the_optimizer_table_and_fit_assume(tmp_path):
    """`bench --mode train` without --optimizer steps Adam, as `table --train` and `fit` cost:
    the static peak it writes beside the measured one is the one `table --train` prints."""
    out = tmp_path / "r.csv"
    code, _, err = run("bench", "lenet5", "--mode", "train", "--device", "cpu", "--budget",
                       "0.05", "--out", str(out))
    assert code == 0, err
    row = pd.read_csv(out).iloc[0]
    table = archprof.analyze("lenet5", train=True).totals
    assert (row["mode"], table["optimizer"]) == ("train-adam", "adam")
    assert row["static_peak_bytes"] == table["train_peak_bytes"]


def test_results_without_mode_read_as_inference(tmp_path):
    from archprof.measure import bench as B
    out = tmp_path / "old.csv"
    B.sweep(["lenet5"], (1,), device="cpu", budget_s=0.05, progress=False, out=out)
    header, row = out.read_text().splitlines()
    drop = B.COLUMNS.index("mode")
    out.write_text(",".join(c for i, c in enumerate(header.split(",")) if i != drop) + "\n"
                   + ",".join(c for i, c in enumerate(row.split(",")) if i != drop) + "\n")
    assert list(B.load_results(out)["mode"]) == ["inference"]


def test_bench_train_bad_mode():
    code, out, err = run("bench", "lenet5", "--mode", "training")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bench_train_cuda_rows(tmp_path):
    """Like with like, as above. bench turns cudnn.benchmark on, whose chosen algorithms' own
    workspaces vary from run to run: on an H100, ResNet-18 at batch 8 was once +12.5 %
    (20 MB) and once within 10 %; from batch 16 on they are a few percent (reports/gpu)."""
    from archprof.measure import bench as B
    df = B.sweep(["resnet18", "mobilenet_v2"], (16, 64), device="cuda", budget_s=0.5,
                 progress=False, out=tmp_path / "r.csv", mode="train-adam")
    assert set(df["status"]) == {"ok"}
    for r in df.itertuples():
        context = static_context(plan(expand(r.network, None, None), optimizer="adam"), r.batch)
        assert r.mem_context_bytes >= context
        assert r.mem_peak_bytes - r.mem_context_bytes == pytest.approx(
            r.static_peak_bytes - context, rel=0.10)


def test_table_train_depth_sums_to_totals():
    a = archprof.analyze("resnet18", batch=4, train=True)
    folded = a.collapsed(1)
    assert folded["backward_macs"].sum() == a.totals["backward_macs"]
    assert folded["saved_bytes"].sum() == a.totals["train_saved_bytes"]
    code, out, _ = run("table", "resnet18", "--train", "--depth", "1")
    assert code == 0 and f"{a.totals['backward_macs'] // 4:,}" in out


def test_an_op_without_training_rules_is_an_error_not_a_zero():
    from dataclasses import dataclass

    from archprof.errors import SpecError
    from archprof.ir.ops import Op

    @dataclass(kw_only=True)
    class Costly(Op):
        kind = "costly"

        def macs(self, ins, out):
            return 7

    with pytest.raises(SpecError, match="'costly' has MACs but no backward rule"):
        Costly().backward_macs([(3,)], (3,), True, True)
    with pytest.raises(SpecError, match="'costly' has no rule for the memory autograd saves"):
        Costly().saved([(3,)], (3,), False)


def test_training_rows_are_their_own_setup_in_charts_and_picks(tmp_path):
    """pick and plot group rows by setup: training rows never mix with inference ones (the
    time and memory vs batch charts get one panel per mode)."""
    from archprof.measure import bench as B
    from archprof.measure.pick import annotate
    out = tmp_path / "results.csv"
    fast = {"device": "cpu", "budget_s": 0.05, "progress": False, "threads": 1, "out": out}
    B.sweep(["lenet5"], (1,), **fast)
    B.sweep(["lenet5"], (1,), mode="train-adam", **fast)
    setups = annotate(B.load_results(out))["setup"]
    assert setups.nunique() == 2 and setups.str.endswith(", train-adam").sum() == 1


class _Traced(nn.Module):
    """A module for the tracer: a learned offset read as data, and a head never run."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.offset = nn.Parameter(torch.zeros(8, 8, 8))
        self.fc = nn.Linear(8 * 8 * 8, 10)
        self.unused = nn.Linear(100, 100)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x) + self.offset, 1))


def test_traced_module_training_cost():
    """analyze(module, train=True) on a traced nn.Module: backward MACs as FlopCounterMode
    counts them, and the step's peak as MemTracker measures it; the head that never runs gets
    no gradient and no optimizer state."""
    a = archprof.analyze(_Traced(), input=(3, 16, 16), batch=4, train=True, optimizer="adam")
    model = _Traced().train()
    _, backward = flop_counter_backward(model, torch.randn(4, 3, 16, 16))
    assert a.totals["backward_macs"] == backward / 2
    unused = 100 * 100 + 100
    assert a.totals["train_grads_bytes"] == 4 * (a.totals["params"] - unused)
    theirs = memtracker_peak(_Traced, (3, 16, 16), 4)
    assert a.totals["train_peak_bytes"] == pytest.approx(theirs, rel=0.10)


# --- ops beyond CxHxW maps ------------------------------------------------------------------------
MODERN = {
    "vit": ("""
- {conv: 64, k: 8, s: 8, name: patch}
- {flatten: , start: 1, name: flat}
- {transpose: [0, 1], name: tokens}
- {concat: [tokens], learned: [1, 64], name: cls}
- {add: [cls], learned: [17, 64], name: pos}
- {block: encoder, repeat: 2, name: blocks}
- {layernorm: , name: norm}
- {select: 0, name: cls_token}
- {linear: 10, name: head}
""", "[3, 32, 32]"),
    "decoder": ("""
- {conv: 16, k: 3, p: 1, name: c1}
- {groupnorm: 4, name: gn}
- silu
- {adaptive_maxpool: 4, name: amp}
- {conv_transpose: 8, k: 4, s: 2, p: 1, name: up}
- {upsample: 2, mode: bilinear, name: interp}
- {pad: [1, 1, 1, 1], name: pad}
- {sub: [pad], scalar: 0.5, name: shift}
- {div: [shift], scalar: 2.0, name: halve}
- {adaptive_avgpool: 3, name: aap}
- {flatten: , name: flat}
- {linear: 10, name: head}
""", "[3, 16, 16]"),
}


def _modern(name: str, write_spec) -> archprof.Analysis:
    from test_ops_nd import ENCODER
    layers, shape = MODERN[name]
    return expand(write_spec(layers, blocks=ENCODER if name == "vit" else "", input=shape), None,
                  None)


@pytest.mark.parametrize("name", sorted(MODERN))
def test_modern_ops_backward_macs_and_saved(name, write_spec):
    """Attention, matmul-free transformer blocks, layer/group norm, transposed convolution,
    adaptive pools, interpolation, views and elementwise ops with constants: backward MACs as
    FlopCounterMode counts them, saved bytes as autograd keeps them (saved_tensors_hooks)."""
    graph = _modern(name, write_spec)
    a = archprof.analyze(graph, batch=2, train=True)
    # on meta: FlopCounterMode has no rule for the CPU flash-attention kernel (it counts 0)
    _, backward = flop_counter_backward(build(graph, device="meta").train(),
                                        torch.empty(2, *graph.input, device="meta"))
    assert backward / 2 == a.totals["backward_macs"]
    model = build(graph).train()
    assert autograd_saved_bytes(model, torch.randn(2, *graph.input)) == a.totals["train_saved_bytes"]


@pytest.mark.parametrize("name", sorted(MODERN))
def test_modern_ops_peak_within_10pct_of_memtracker(name, write_spec):
    graph = _modern(name, write_spec)
    ours = plan(graph, optimizer="adam").peak(8)[0]
    theirs = memtracker_peak(lambda: build(graph), graph.input, 8)
    assert ours == pytest.approx(theirs, rel=0.10)
