"""Frame-rate conversion of teacher outputs (signdistill.losses.rates) against a float64 loop reference."""

from __future__ import annotations

import math

import pytest
import torch

from signdistill.losses.rates import overlap_weights, resample_frames, resample_log_probs


def _reference(x: list[list[float]], n: int, m: int) -> list[list[float]]:
    """Student frame t of m covers [t, t+1) * n / m teacher frames; average by overlap (plain Python)."""
    out = []
    for t in range(m):
        a, b = t * n / m, (t + 1) * n / m
        acc, tot = [0.0] * len(x[0]), 0.0
        for s in range(n):
            w = max(0.0, min(b, s + 1) - max(a, s))
            tot += w
            acc = [u + w * v for u, v in zip(acc, x[s])]
        out.append([u / tot for u in acc])
    return out


@pytest.mark.parametrize(("n", "m"), [(3, 12), (12, 3), (5, 17), (17, 5), (1, 4), (4, 1), (7, 7)])
def test_area_average_matches_the_reference(n, m):
    torch.manual_seed(n * 31 + m)
    x = torch.randn(1, n, 3, dtype=torch.float64)
    got = resample_frames(x, torch.tensor([n]), torch.tensor([m]))[0]
    want = torch.tensor(_reference(x[0].tolist(), n, m), dtype=torch.float64)
    assert torch.allclose(got, want, atol=1e-12)


def test_stride_one_is_the_identity_bit_for_bit():
    lp = torch.log_softmax(torch.randn(2, 9, 5), -1)
    lengths = torch.tensor([9, 6])
    assert resample_log_probs(lp, lengths, lengths) is lp
    assert resample_frames(lp, lengths, lengths) is lp


def test_padded_batch_equals_each_utterance_alone():
    torch.manual_seed(0)
    lp = torch.log_softmax(torch.randn(3, 10, 6, dtype=torch.float64), -1)
    lengths, targets = torch.tensor([10, 7, 3]), torch.tensor([40, 27, 12])
    batch = resample_log_probs(lp, lengths, targets)
    assert batch.shape == (3, 40, 6)
    for b in range(3):
        alone = resample_log_probs(lp[b : b + 1, : lengths[b]], lengths[b : b + 1], targets[b : b + 1])
        assert torch.allclose(batch[b, : targets[b]], alone[0], atol=1e-12)
        assert torch.allclose(batch[b, targets[b] :].exp().sum(-1), torch.ones(40 - int(targets[b]), dtype=torch.float64))


def test_results_are_distributions_and_a_stride_4_teacher_is_repeated():
    torch.manual_seed(1)
    lp = torch.log_softmax(torch.randn(1, 5, 4, dtype=torch.float64), -1)
    up = resample_log_probs(lp, torch.tensor([5]), torch.tensor([20]))
    assert torch.allclose(up.exp().sum(-1), torch.ones(1, 20, dtype=torch.float64))
    assert torch.allclose(up[0, 4:8], lp[0, 1].expand(4, -1), atol=1e-12)  # frames 4..7 lie inside teacher frame 1
    down = resample_log_probs(up, torch.tensor([20]), torch.tensor([5]))
    assert torch.allclose(down, lp, atol=1e-12)  # averaging back gives the teacher


def test_weights_rows_sum_to_one_and_padding_is_zero():
    w = overlap_weights(torch.tensor([4, 2]), torch.tensor([6, 3]), 4, 6)
    assert torch.allclose(w[0].sum(-1), torch.ones(6, dtype=torch.float64))
    assert torch.all(w[1, 3:] == 0) and torch.all(w[1, :, 2:] == 0)


def test_bad_shapes_are_value_errors():
    with pytest.raises(ValueError, match="batch, time, channels"):
        resample_frames(torch.zeros(4, 3), torch.tensor([3]), torch.tensor([3]))
    with pytest.raises(ValueError, match="at least one frame"):
        resample_frames(torch.zeros(1, 3, 2), torch.tensor([0]), torch.tensor([3]))
    with pytest.raises(ValueError, match="exceeds"):
        resample_frames(torch.zeros(1, 3, 2), torch.tensor([4]), torch.tensor([3]))
    assert math.isfinite(float(resample_log_probs(torch.full((1, 2, 3), -math.inf), torch.tensor([2]), torch.tensor([5])).max()))


def test_the_loss_takes_a_teacher_at_another_frame_rate():
    from signdistill.losses import DistillationLoss, TeacherTargets

    torch.manual_seed(0)
    student = torch.randn(2, 12, 5, requires_grad=True)
    s_lengths = torch.tensor([12, 8])
    teacher = torch.randn(2, 3, 5)  # a stride-4 teacher: ceil(12 / 4), ceil(8 / 4) frames
    t_lengths = torch.tensor([3, 2])
    loss = DistillationLoss(ctc=0.0, kl=0.5, factorized=0.5)
    out = loss(student, TeacherTargets(teacher, lengths=t_lengths), s_lengths, torch.tensor([1, 2, 3]), torch.tensor([2, 1]))
    up = resample_log_probs(torch.log_softmax(teacher, -1), t_lengths, s_lengths)  # the same, by hand
    ref = loss(student, up, s_lengths, torch.tensor([1, 2, 3]), torch.tensor([2, 1]))
    assert out.parts["kl"] == pytest.approx(ref.parts["kl"], rel=1e-5)
    assert out.parts["factorized"] == pytest.approx(ref.parts["factorized"], rel=1e-5)
    out.total.backward()
    assert student.grad is not None and torch.all(student.grad[1, 8:] == 0)
