import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from signdistill.models import CTCModel, ExactBiLSTMLayer, ModelSpec, build_model, reverse_within_length


def _tiny(layers=2, hidden=16):
    torch.manual_seed(0)
    return CTCModel(ModelSpec(input_dim=6, vocab_size=7, hidden=hidden, layers=layers, input_proj=8, dropout=0.0)).eval()


def test_reverse_within_length_keeps_padding_in_place():
    idx = reverse_within_length(torch.tensor([3, 1, 0]), 4)
    assert idx.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [0, 1, 2, 3]]


def test_output_does_not_depend_on_batch_padding():
    model = _tiny()
    lengths = torch.tensor([40, 17, 5, 1])
    x = torch.randn(4, 40, 6)
    x_noise = x.clone()
    for b, n in enumerate(lengths):
        x_noise[b, n:] = torch.randn(40 - n, 6) * 100  # garbage in the padding
    with torch.no_grad():
        batched = model(x, lengths).logits
        noisy = model(x_noise, lengths).logits
        for b, n in enumerate(lengths.tolist()):
            alone = model(x[b : b + 1, :n], lengths[b : b + 1]).logits[0]
            assert torch.allclose(batched[b, :n], alone, atol=1e-5)
            assert torch.allclose(noisy[b, :n], alone, atol=1e-5)
            assert torch.equal(batched[b, :n].argmax(-1), alone.argmax(-1))


def test_plain_padded_bilstm_is_not_exact_but_ours_matches_packed():
    """Reference: a bidirectional nn.LSTM with pack_padded_sequence is exact; ours equals it."""
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True).eval()
    layers = [ExactBiLSTMLayer.from_bidirectional(lstm, i).eval() for i in range(2)]
    x = torch.randn(3, 30, 6)
    lengths = torch.tensor([30, 12, 4])
    with torch.no_grad():
        packed, _ = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        ref, _ = pad_packed_sequence(packed, batch_first=True, total_length=30)
        padded, _ = lstm(x)
        rev = reverse_within_length(lengths, 30)
        h = x
        for layer in layers:
            h = layer(h, rev)
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(h[b, :n], ref[b, :n], atol=1e-5)
    # The naive padded run differs on the short utterances (the reason for the design).
    assert (padded[2, :4] - ref[2, :4]).abs().max() > 1e-4


@pytest.mark.parametrize("preset,layers,hidden", [("teacher", 5, 384), ("student", 4, 256)])
def test_presets(preset, layers, hidden):
    m = build_model(36, 50, preset=preset)
    assert m.spec.layers == layers and m.spec.hidden == hidden
    out = m(torch.randn(2, 7, 36), torch.tensor([7, 3]), return_hidden=True)
    assert out.logits.shape == (2, 7, 50)
    assert len(out.hidden) == layers and out.hidden[0].shape == (2, 7, 2 * hidden)
    assert m.size_bytes() == 4 * m.num_parameters()


def test_preset_overrides_and_bad_preset():
    assert build_model(10, 5, preset="student", layers=2).spec.layers == 2
    with pytest.raises(ValueError, match="Unknown preset"):
        build_model(10, 5, preset="huge")


def test_rejects_wrong_feature_dim():
    with pytest.raises(ValueError, match="features must be"):
        _tiny()(torch.randn(1, 5, 7), torch.tensor([5]))


def test_gradients_do_not_flow_from_padding():
    model = _tiny()
    model.train()
    x = torch.randn(2, 10, 6, requires_grad=True)
    lengths = torch.tensor([10, 4])
    out = model(x, lengths)
    mask = (torch.arange(10)[None] < lengths[:, None]).float()
    (out.logits.sum(-1) * mask).sum().backward()
    assert x.grad[1, 4:].abs().max() == 0


def test_activation_checkpointing_is_exact():
    """Same loss and gradients with and without recomputation, dropout included (its RNG state is replayed)."""
    from signdistill.losses import ctc_loss
    from signdistill.models import build_model

    torch.manual_seed(0)
    model = build_model(12, 7, layers=3, hidden=16, input_proj=16, dropout=0.3)
    x, lengths = torch.randn(4, 30, 12), torch.tensor([30, 25, 9, 1])
    targets, target_lengths = torch.tensor([1, 2, 3, 4, 5, 6, 1]), torch.tensor([3, 2, 1, 1])

    def step(checkpointing: bool):
        model.zero_grad()
        model.activation_checkpointing = checkpointing
        torch.manual_seed(123)
        out = model(x, lengths, return_hidden=True)
        loss = ctc_loss(out.logits, lengths, targets, target_lengths) + out.hidden[1].pow(2).mean()
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    model.train()
    loss_a, grads_a = step(False)
    loss_b, grads_b = step(True)
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-5, rtol=1e-4), name
    model.eval()  # no recomputation at inference, and eval outputs are unchanged
    with torch.no_grad():
        a = model(x, lengths).logits
        model.activation_checkpointing = False
        assert torch.equal(a, model(x, lengths).logits)


def test_activation_checkpointing_keeps_fewer_activations():
    from signdistill.models import build_model

    model = build_model(12, 7, layers=3, hidden=32, input_proj=32).train()
    x, lengths = torch.randn(2, 60, 12), torch.tensor([60, 40])

    def saved_numel(checkpointing: bool) -> int:
        model.activation_checkpointing = checkpointing
        total = 0

        def pack(t):
            nonlocal total
            total += t.numel()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x, lengths).logits.sum()
        return total

    assert saved_numel(True) < saved_numel(False) / 3
