"""Recurrent layers (nn.LSTM, nn.GRU, nn.RNN) as ops `lstm`, `gru`, `rnn`: traced whole and
written in specs. Every number against an independent source: the real module (numel, output
shapes), FlopCounterMode (forward and backward MACs), saved_tensors_hooks (what autograd
keeps) and hand arithmetic written out here.

On the CPU torch runs a float32 LSTM by oneDNN's fused kernel, one ATen op FlopCounterMode has
no rule for (it counts 0, pinned below); with oneDNN off (as GRU and RNN always run) torch runs
its own step-by-step kernel, whose products it counts: the comparisons run so."""
from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
import tracing_models as tm
from click.testing import CliRunner
from test_import import assert_same_analysis, reloaded
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.check import Report, check_model, check_module
from archprof.cli import main
from archprof.errors import SpecError
from archprof.ir import ops
from archprof.trace import trace
from archprof.trace.to_spec import to_spec

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
T, F, H = 7, 12, 16           # steps, features (RecurrentNet's), hidden size


@contextmanager
def native() -> Iterator[None]:
    """torch's own step-by-step kernels on the CPU (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flops(module: nn.Module, x: torch.Tensor, backward: bool = False) -> tuple[int, int]:
    """(forward, backward) FLOPs FlopCounterMode counts on the real module."""
    with native(), FlopCounterMode(display=False) as counter:
        out = module(x)
        forward = counter.get_total_flops()
        if backward:
            (out[0] if isinstance(out, tuple) else out).sum().backward()
    return forward, counter.get_total_flops() - forward


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps in a real CPU forward, less the
    parameters and the batch (as tests/test_training.py measures them)."""
    kept: dict[int, int] = {}
    with native(), torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.setdefault(t.untyped_storage().data_ptr(),
                                      t.untyped_storage().nbytes()) and t, lambda t: t):
        module(x)
    for t in [*module.parameters(), *module.buffers(), x]:
        kept.pop(t.untyped_storage().data_ptr(), None)
    return sum(kept.values())


CONFIGS = [  # (layers, bidirectional, bias)
    (1, False, True), (2, False, True), (2, True, True), (1, True, False), (2, False, False)]


@pytest.mark.parametrize("kind, config, batch",
                         list(itertools.product(GATES, CONFIGS, (1, 2, 3))))
def test_traced_params_shapes_and_macs_against_the_module(kind, config, batch):
    """params == numel, the row's shape == the real output's, MACs == FlopCounterMode / 2 (of
    the whole model and of the recurrent layer alone), at batch 1, 2 and 3 (2: as many as the
    layers, the size of h0's first dimension)."""
    layers, bidirectional, bias = config
    module = tm.RecurrentNet(kind, F, H, layers, bidirectional, bias)
    a = archprof.analyze(module, input=(T, F), batch=batch)
    rows = a.layers.set_index("name")
    assert rows.at["rnn", "type"] == kind.lower()
    assert a.totals["params"] == numel(module)
    assert rows.at["rnn", "params"] == numel(module.rnn)
    x = torch.randn(batch, T, F)
    with torch.no_grad(), native():
        y = module.rnn(module.embed(x))[0]
    assert rows.at["rnn", "shape"] == "x".join(map(str, y.shape[1:]))
    assert a.totals["macs"] * 2 == flops(module, x)[0]
    assert rows.at["rnn", "macs"] * 2 == flops(module.rnn, torch.randn(batch, T, F))[0]
    assert a.totals["uncounted_ops"] == {} and a.totals["constant_work"] == {}


def test_macs_by_hand_count_the_first_step_on_the_zero_state():
    """LSTM(32, 64, 2 layers) on 10 steps: each step multiplies its input (32, then 64
    features) and the previous hidden state (64) by 4 gate blocks of 64, the first step's
    zero state included: 10 * (4*64*(32 + 64) + 4*64*(64 + 64))."""
    a = archprof.analyze(tm.LSTMNet(), input=(10, 32))
    rows = a.layers.set_index("name")
    assert rows.at["lstm", "macs"] == 10 * (4 * 64 * 96 + 4 * 64 * 128) == 573_440
    # weights 4*64*(32 + 64) + 4*64*(64 + 64), and b_ih, b_hh (4*64 each) per layer
    assert rows.at["lstm", "params"] == 4 * 64 * 96 + 4 * 64 * 128 + 2 * 2 * 4 * 64 == 58_368
    assert rows.at["lstm", "weights"] == 4 * 64 * 96 + 4 * 64 * 128


@pytest.mark.parametrize("kind, per_step", [
    # LSTM: adds of the two products (4H), 3 sigmoid + 1 tanh (4H), c = f*c + i*g (3H),
    # h = o*tanh(c) (2H); bias adds b_ih, b_hh (2*4H)
    ("lstm", 4 * H + 4 * H + 3 * H + 2 * H + 2 * 4 * H),
    # GRU: r and z: adds (2H), sigmoids (2H); n = tanh(x_n + r*h_n) (3H); h = n + z*(h - n)
    # (3H); bias adds (2*3H)
    ("gru", 2 * H + 2 * H + 3 * H + 3 * H + 2 * 3 * H),
    # RNN: the products' add (H), tanh (H); bias adds (2H)
    ("rnn", H + H + 2 * H),
])
def test_other_ops_by_hand(kind, per_step):
    """Per step, direction and layer; a bidirectional 2-layer stack on 7 steps: 7 * 2 * 2
    steps. Without biases the 2*G*H bias adds go."""
    op = ops.OPS[kind](hidden=H, layers=2, bidirectional=True)
    assert op.other([(T, F)], (T, 2 * H)) == T * 2 * 2 * per_step
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    no_bias = ops.OPS[kind](hidden=H, layers=2, bidirectional=True, bias=False)
    assert no_bias.other([(T, F)], (T, 2 * H)) == T * 2 * 2 * (per_step - 2 * gates * H)


def test_lstm_at_batch_1_2_3_the_issue_model():
    """The model of the bug report: at batch >= 2 it failed ('learned 2x64 has more
    dimensions'), at batch 1 the first step's h0 @ W_hh was 'constant work' and aten.stack
    and aten.unsafe_split uncounted. Now one row, MACs per sample times the batch."""
    module = tm.LSTMNet()
    per_sample = 10 * (4 * 64 * 96 + 4 * 64 * 128) + 64 * 5
    for batch in (1, 2, 3):
        a = archprof.analyze(module, input=(10, 32), batch=batch)
        assert a.layers["name"].tolist() == ["lstm", "select", "fc"]
        assert a.totals["macs"] == batch * per_sample
        assert 2 * a.totals["macs"] == flops(module, torch.randn(batch, 10, 32))[0]
        assert a.totals["uncounted_ops"] == {} and a.totals["constant_work"] == {}
        assert a.totals["params"] == numel(module)


def test_table_cli_at_batch_2():
    result = CliRunner().invoke(main, ["table", "tests/tracing_models.py:LSTMNet",
                                       "--input", "10x32", "--batch", "2"])
    assert result.exit_code == 0, result.output
    lstm = next(line for line in result.output.splitlines() if line.startswith("lstm "))
    assert f"{2 * 10 * (4 * 64 * 96 + 4 * 64 * 128):,}" in lstm and "10x64" in lstm
    assert "uncounted" not in result.output and "constant" not in result.output


def test_check_module_cli_against_flop_counter_and_forward_hooks():
    """`archprof check MODULE:CALLABLE`: numel, the LSTM's output (its tuple's first) shape
    seen by a forward hook, FlopCounterMode on meta (torch's step-by-step kernel)."""
    report = check_module("tests/tracing_models.py:LSTMNet", input=(10, 32))
    assert report.ok, report.failed
    assert any(line.startswith("shapes: 2/2") for line in report.passed)


def test_initial_zero_states_made_in_the_forward_are_counted_the_same():
    """h0, c0 = zeros made by the forward and passed in: constants, the same products."""
    module = tm.ZeroStateGiven()
    a = archprof.analyze(module, input=(6, 8), batch=2)
    assert a.layers["name"].tolist() == ["lstm"]
    assert 2 * a.totals["macs"] == flops(module, torch.randn(2, 6, 8))[0]
    # 2 samples * 6 steps * (4*16*(8 + 16) + 4*16*(16 + 16))
    assert a.totals["macs"] == 2 * 6 * (4 * 16 * 24 + 4 * 16 * 32)


# --- what the op cannot represent: one line, never wrong numbers ------------------------------
def test_reading_the_final_state_is_an_error_naming_the_module():
    with pytest.raises(SpecError, match=r"^the forward reads the final state that gru \(GRU\) "
                                        r"returns besides its output"):
        archprof.analyze(tm.ReadsFinalState(), input=(6, 8), batch=2)
    result = CliRunner().invoke(main, ["table", "tests/tracing_models.py:ReadsFinalState",
                                       "--input", "6x8"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "gru (GRU)" in result.output and "Traceback" not in result.output


def test_batch_first_false_is_one_line_exit_2():
    with pytest.raises(SpecError, match=r"^lstm: nn.LSTM with batch_first=False: archprof's "
                                        r"per-sample shapes need the batch first"):
        archprof.analyze(tm.TimeMajor(), input=(6, 8))
    result = CliRunner().invoke(main, ["table", "tests/tracing_models.py:TimeMajor",
                                       "--input", "6x8", "--batch", "2"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("error: tests/tracing_models.py:TimeMajor, module lstm: "
                                    "nn.LSTM with batch_first=False")


@pytest.mark.parametrize("module, message", [
    (nn.LSTM(8, 16, batch_first=True, proj_size=4), "with proj_size=4: no rule"),
    (nn.GRU(6, 16, batch_first=True), "gets an initial state computed from the input"),
])
def test_what_the_op_cannot_represent_is_refused(module, message):
    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = module

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if isinstance(self.rnn, nn.GRU):      # h0 (1, batch, 16) from the first step
                return self.rnn(x[:, :, :6], x[:, 0].repeat(1, 2)[None])[0]
            return self.rnn(x)[0]

    with pytest.raises(SpecError, match=message):
        archprof.analyze(Wrapped(), input=(5, 8), batch=2)


def test_a_spec_row_needs_a_sequence():
    op = ops.OPS["lstm"](hidden=8)
    with pytest.raises(SpecError, match=r"lstm needs a \(T, F\) sequence .* got 3x8x8"):
        op.shape([(3, 8, 8)])


def test_flop_counter_counts_nothing_for_onednn_lstm_on_the_cpu():
    """Why the comparisons run torch's own kernel: oneDNN's fused LSTM (the CPU default for
    float32) is one op with no FlopCounterMode rule; GRU is not fused."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        nn.LSTM(8, 16, batch_first=True)(torch.randn(2, 5, 8))
    assert counter.get_total_flops() == 0
    assert flops(nn.LSTM(8, 16, batch_first=True), torch.randn(2, 5, 8))[0] == \
        2 * 2 * 5 * 4 * 16 * (8 + 16)


# --- training ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, layers, bidirectional",
                         [(k, n, b) for k in GATES for n, b in ((1, False), (2, True))])
@pytest.mark.parametrize("input_grad, weight_grad", [(True, True), (False, True),
                                                     (True, False)])
def test_backward_macs_match_flop_counter(kind, layers, bidirectional, input_grad,
                                          weight_grad):
    """FlopCounterMode over forward + backward of the real module, requires_grad set as the
    flags say. weight_grad: every weight's gradient, and so the hidden state's gradient back
    through the steps and the input gradient of every layer but the first; input_grad: the
    hidden state's and every layer's input gradient. The zero initial state takes none."""
    module = getattr(nn, kind)(F, H, num_layers=layers, bidirectional=bidirectional,
                               batch_first=True)
    module.requires_grad_(weight_grad)
    x = torch.randn(3, T, F, requires_grad=input_grad)
    _, backward = flops(module, x, backward=True)
    op = ops.OPS[kind.lower()](hidden=H, layers=layers, bidirectional=bidirectional)
    out = op.shape([(T, F)])
    assert 3 * op.backward_macs([(T, F)], out, input_grad, weight_grad) * 2 == backward
    assert op.backward_macs([(T, F)], out, False, False) == 0
    text = op.backward_text([(T, F)], out, input_grad, weight_grad)
    assert text.endswith(f"= {op.backward_macs([(T, F)], out, input_grad, weight_grad):,}")


def test_backward_macs_by_hand():
    """A 1-layer LSTM(12, 16) on 7 steps, all gradients: grad weights 7*4*16*(12 + 16), grad
    hidden state 6 steps (not into the zero state) * 4*16*16, grad input 7*4*16*12."""
    op = ops.OPS["lstm"](hidden=H)
    assert op.backward_macs([(T, F)], (T, H), True, True) == \
        7 * 64 * 28 + 6 * 64 * 16 + 7 * 64 * 12


def test_traced_model_backward_macs_match_flop_counter():
    """The whole traced model in training: the embedding's output needs a gradient, so the
    GRU computes its input gradient too."""
    module = tm.RecurrentNet("GRU", F, H, 2, True, True)
    a = archprof.analyze(module, input=(T, F), batch=2, train=True)
    _, backward = flops(module.train(), torch.randn(2, T, F), backward=True)
    assert 2 * a.totals["backward_macs"] == backward


@pytest.mark.parametrize("row", [
    "{lstm: 16, layers: 2}", "{lstm: 16, bidirectional: true, bias: false}",
    "{gru: 16, layers: 3, bidirectional: true}", "{rnn: 16, layers: 2, nonlinearity: relu}",
    "{lstm: 16, layers: 3, layer_dropout: 0.5}", "{gru: 16, layers: 2, layer_dropout: 0.2}"])
@pytest.mark.parametrize("batch", [2, 3])
def test_saved_bytes_equal_what_autograd_keeps(write_spec, row, batch):
    """The spec built as a torch model and run forward on the CPU in training mode: the
    distinct storages autograd keeps (saved_tensors_hooks) == archprof's saved bytes. A
    linear layer first, so the recurrent layer's input is an activation of its own."""
    path = write_spec(f"- {{linear: {F}, name: embed}}\n- {row[:-1]}, name: rnn}}\n"
                      "- {linear: 3, name: head}", input=f"[{T}, {F}]")
    a = archprof.analyze(path, batch=batch, train=True)
    model = archprof.build(a.graph).train()
    assert saved_bytes(model, torch.randn(batch, *a.graph.input)) == a.totals["train_saved_bytes"]


def test_saved_by_hand():
    """LSTM(12, 16), 2 layers, 7 steps, per sample: per layer, the gates (4H) and tanh(c) (H)
    of every step, h and c of every step but the last (read by the next); the zero h0 and c0
    (one tensor each for both layers); the time-major copy of the input (7*12); the first
    layer's output, the second's input (7*16)."""
    op = ops.OPS["lstm"](hidden=H, layers=2)
    own = op.saved([(T, F)], (T, H), False).own
    per_layer = 7 * (4 * 16 + 16) + 6 * (16 + 16)
    assert sum(o.elements for o in own) == 2 * per_layer + 2 * 2 * 16 + 7 * 12 + 7 * 16


# --- specs and import ---------------------------------------------------------------------------
def test_a_spec_row_expands_builds_and_checks(write_spec):
    """{lstm: 64, layers: 2}: built as nn.LSTM(32, 64, num_layers=2, batch_first=True); params
    == numel, shapes == a meta forward, MACs == FlopCounterMode (fvcore has no LSTM rule)."""
    path = write_spec("- {lstm: 64, layers: 2, name: lstm}\n- {select: 0, index: -1, name: last}\n"
                      "- {linear: 5, name: fc}", input="[10, 32]")
    a = archprof.analyze(path)
    report = Report("rnn")
    check_model(a, report)
    assert report.ok, report.failed
    model = archprof.build(a.graph)
    inner = model.lstm.rnn
    assert isinstance(inner, nn.LSTM) and inner.batch_first and inner.num_layers == 2
    assert numel(model) == numel(tm.LSTMNet()) == a.totals["params"]
    assert model(torch.randn(3, 10, 32)).shape == (3, 5)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0, result.output
    explained = CliRunner().invoke(main, ["explain", str(path), "lstm"])
    assert "params = (4*64*(32 + 64) + 2*4*64) + (4*64*(64 + 64) + 2*4*64) = 58,368" \
        in explained.output
    assert "MACs = 10*(4*64*(32 + 64) + 4*64*(64 + 64)) = 573,440" in explained.output


@pytest.mark.parametrize("options", [
    {"kind": "LSTM", "layers": 2},
    {"kind": "GRU", "layers": 2, "bidirectional": True, "dropout": 0.25},
    {"kind": "RNN", "layers": 3, "bias": False, "nonlinearity": "relu"}])
def test_import_round_trip(options):
    """`archprof import` writes the recurrent row with its fields; the spec re-analyses row by
    row as the trace, builds a model of the module's numel and torch's output shape."""
    module = tm.RecurrentNet(**options)
    graph = trace(module, (T, F))
    text = to_spec(graph)
    assert_same_analysis(graph, text)
    built = archprof.build(reloaded(text))
    assert numel(built) == numel(module)
    inner = built.rnn.rnn
    for name in ("num_layers", "bidirectional", "bias", "dropout", "nonlinearity"):
        if hasattr(module.rnn, name):
            assert getattr(inner, name) == getattr(module.rnn, name), name
    x = torch.randn(2, T, F)
    with torch.no_grad(), native():
        assert built(x).shape == module(x).shape


@pytest.mark.parametrize("row, over", [("{lstm: 16, layers: 2}", 0),
                                       ("{gru: 16, bidirectional: true}", T * F)])
def test_saved_bytes_at_batch_1(write_spec, row, over):
    """At batch 1 the time-major transpose is a view: torch keeps the recurrent layer's input
    itself, not one copy per direction. One direction: the same bytes (the input stands for
    the copy); two: archprof counts one copy, T*F elements, too many."""
    path = write_spec(f"- {{linear: {F}, name: embed}}\n- {row[:-1]}, name: rnn}}",
                      input=f"[{T}, {F}]")
    a = archprof.analyze(path, batch=1, train=True)
    model = archprof.build(a.graph).train()
    kept = saved_bytes(model, torch.randn(1, *a.graph.input))
    assert kept == a.totals["train_saved_bytes"] - 4 * over


class GatedLSTM(nn.LSTM):
    """A user's subclass with an __init__ of its own and torch's forward."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__(features, hidden, num_layers=2, batch_first=True)


class ClippedLSTM(nn.LSTM):
    """A subclass whose forward is its own: the LSTM rule cannot stand for it."""

    def forward(self, x, hx=None):  # noqa: ANN001, ANN201 - nn.LSTM's signature
        return super().forward(x.clamp(-1, 1), hx)


def test_a_subclass_running_torchs_forward_traces_as_the_op():
    from archprof.trace import aten
    assert aten.ruled(GatedLSTM) is nn.LSTM and aten.ruled(ClippedLSTM) is None
    assert aten.ruled(nn.Conv2d) is None
    model = tm.RecurrentNet("LSTM", F, H)
    model.rnn = GatedLSTM(F, H)
    a = archprof.analyze(model, input=(T, F), batch=2)
    assert a.layers.set_index("name").at["rnn", "type"] == "lstm"
    assert a.totals["params"] == numel(model)
    assert a.totals["macs"] * 2 == flops(model, torch.randn(2, T, F))[0]
