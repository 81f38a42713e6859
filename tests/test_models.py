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
