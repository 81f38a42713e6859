import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from signdistill.losses import DistillationLoss, FeatureProjector, ctc_loss, feature_mse_loss, kd_kl_loss, teacher_log_probs

FIXTURES = Path(__file__).parent / "fixtures"


@st.composite
def batches(draw, max_b=3, max_t=6, max_v=5):
    b = draw(st.integers(1, max_b))
    t = draw(st.integers(1, max_t))
    v = draw(st.integers(2, max_v))
    lengths = torch.tensor(draw(st.lists(st.integers(0, t), min_size=b, max_size=b)))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    scale = draw(st.floats(0.1, 10))
    s = torch.randn(b, t, v, generator=g) * scale
    te = torch.randn(b, t, v, generator=g) * scale
    return s, te, lengths


def reference_kl(s, t, lengths, temp):
    """Direct per-frame formula: T^2 * sum_v p log(p / q), mean over valid frames."""
    total, n = 0.0, 0
    for b in range(s.shape[0]):
        for i in range(int(lengths[b])):
            p = torch.softmax(t[b, i].double() / temp, -1)
            q = torch.softmax(s[b, i].double() / temp, -1)
            total += float((p * (p.log() - q.log())).sum()) * temp**2
            n += 1
    return total / max(n, 1)


MODES = st.sampled_from(["keep", "drop", "downweight"])


@settings(max_examples=60, deadline=None)
@given(batches(), st.floats(0.5, 5.0), MODES, st.one_of(st.none(), st.integers(1, 4)))
def test_kl_nonnegative_finite_grads(batch, temp, mode, topk):
    s, t, lengths = batch
    s.requires_grad_(True)
    loss = kd_kl_loss(s, t, lengths, temp, blank_mode=mode, topk=topk)
    assert loss.item() >= -1e-6
    loss.backward()
    assert torch.isfinite(s.grad).all()


@settings(max_examples=40, deadline=None)
@given(batches(), st.floats(0.5, 5.0), MODES)
def test_kl_zero_for_identical(batch, temp, mode):
    s, _, lengths = batch
    assert abs(kd_kl_loss(s, s.clone(), lengths, temp, blank_mode=mode).item()) < 1e-5


@settings(max_examples=40, deadline=None)
@given(batches(), st.floats(0.5, 5.0), MODES)
def test_padding_content_is_ignored(batch, temp, mode):
    s, t, lengths = batch
    s2, t2 = s.clone(), t.clone()
    for b, n in enumerate(lengths.tolist()):
        s2[b, n:] = 1e4
        t2[b, n:] = -1e4
    a = kd_kl_loss(s, t, lengths, temp, blank_mode=mode)
    b_ = kd_kl_loss(s2, t2, lengths, temp, blank_mode=mode)
    assert torch.allclose(a, b_, atol=1e-6)
    f1 = feature_mse_loss(s, t, lengths)
    f2 = feature_mse_loss(s2, t2, lengths)
    assert torch.allclose(f1, f2)


@settings(max_examples=40, deadline=None)
@given(batches(), st.floats(0.5, 5.0))
def test_kl_matches_reference_formula(batch, temp):
    s, t, lengths = batch
    got = kd_kl_loss(s, t, lengths, temp).item()
    assert got == pytest.approx(reference_kl(s, t, lengths, temp), rel=1e-4, abs=1e-5)


def test_temperature_scaling_as_documented():
    torch.manual_seed(0)
    s, t, lengths = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.tensor([5, 2])
    scaled = kd_kl_loss(s, t, lengths, 3.0)
    unscaled = kd_kl_loss(s, t, lengths, 3.0, scale_by_t2=False)
    assert scaled.item() == pytest.approx(9.0 * unscaled.item(), rel=1e-6)
    # Softening by T equals plain KL on logits divided by T.
    assert unscaled.item() == pytest.approx(kd_kl_loss(s / 3, t / 3, lengths, 1.0).item(), rel=1e-5)


def test_reductions_and_empty():
    s, t = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    lengths = torch.tensor([4, 0])
    none = kd_kl_loss(s, t, lengths, reduction="none")
    assert none.shape == (2, 4) and (none[1] == 0).all()
    assert kd_kl_loss(s, t, lengths, reduction="sum").item() == pytest.approx(none.sum().item())
    assert kd_kl_loss(s, t, lengths).item() == pytest.approx(none.sum().item() / 4)
    assert kd_kl_loss(s, t, torch.tensor([0, 0])).item() == 0.0
    assert kd_kl_loss(s[:, :1], t[:, :1], torch.tensor([1, 1])).item() >= 0


def test_drop_mode_ignores_blank_column():
    s, t = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    s2, t2 = s.clone(), t.clone()
    s2[..., 0] += 5.0
    t2[..., 0] -= 3.0
    lengths = torch.tensor([3])
    assert kd_kl_loss(s, t, lengths, 2.0, blank_mode="drop").item() == pytest.approx(
        kd_kl_loss(s2, t2, lengths, 2.0, blank_mode="drop").item(), rel=1e-5
    )


def test_downweight_zero_matches_only_gloss_frames():
    t = torch.tensor([[[5.0, 0, 0], [0, 5.0, 0]]])  # frame 0 blank, frame 1 gloss
    s = torch.zeros(1, 2, 3)
    per = kd_kl_loss(s, t, torch.tensor([2]), blank_mode="downweight", blank_weight=0.0, reduction="none")
    assert per[0, 0] == 0 and per[0, 1] > 0


def test_topk_targets_equal_cached_topk():
    torch.manual_seed(1)
    s, t, lengths = torch.randn(2, 5, 6), torch.randn(2, 5, 6), torch.tensor([5, 3])
    vals, idx = torch.log_softmax(t, -1).topk(3, -1)
    online = kd_kl_loss(s, t, lengths, 2.0, topk=3)
    cached = kd_kl_loss(s, None, lengths, 2.0, teacher_topk=(vals.half(), idx))
    assert online.item() == pytest.approx(cached.item(), rel=2e-3)


def test_multi_teacher_average_of_posteriors():
    """Several teachers: the weighted mixture of their T = 1 posteriors, then softened like one teacher's."""
    t1, t2 = torch.randn(1, 2, 3), torch.randn(1, 2, 3)
    mixed = 0.75 * torch.softmax(t1, -1) + 0.25 * torch.softmax(t2, -1)
    assert torch.allclose(teacher_log_probs([t1, t2], 1.0, weights=[3, 1]).exp(), mixed, atol=1e-6)
    softened = teacher_log_probs([t1, t2], 2.0, weights=[3, 1]).exp()
    assert torch.allclose(softened, torch.softmax(mixed.log() / 2, -1), atol=1e-6)


def test_float32_under_autocast():
    s, t = torch.randn(1, 4, 5).bfloat16(), torch.randn(1, 4, 5).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = kd_kl_loss(s, t, torch.tensor([4]))
        c = ctc_loss(s, torch.tensor([4]), torch.tensor([1, 2]), torch.tensor([2]))
    assert out.dtype == torch.float32 and c.dtype == torch.float32


def test_ctc_handles_impossible_and_empty():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    loss = ctc_loss(logits, torch.tensor([3, 0]), torch.tensor([1, 2, 1, 1, 1, 1]), torch.tensor([2, 4]))
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_feature_projector_regresses_student_into_teacher_space():
    proj = FeatureProjector([(2, 2), (4, 3)], student_sizes=[8] * 4, teacher_sizes=[12] * 5)
    sh = [torch.randn(1, 3, 8) for _ in range(4)]
    th = [torch.randn(1, 3, 12) for _ in range(5)]
    pairs = list(proj(sh, th))
    assert [p[0].shape[-1] for p in pairs] == [12, 12]
    assert pairs[0][1] is th[1] and pairs[1][1] is th[3]
    with pytest.raises(ValueError, match="teacher layer 6"):
        FeatureProjector([(6, 1)], [8], [12] * 5)
    with pytest.raises(ValueError, match="student layer 5"):
        FeatureProjector([(1, 5)], [8] * 4, [12] * 5)


def test_distillation_loss_combines_weights():
    torch.manual_seed(0)
    s, t = torch.randn(2, 6, 5, requires_grad=True), torch.randn(2, 6, 5)
    lengths, tg, tl = torch.tensor([6, 4]), torch.tensor([1, 2, 3]), torch.tensor([2, 1])
    out = DistillationLoss(kl=0.7, ctc=0.2, blank_mode="keep")(s, t, lengths, tg, tl, temperature=2.0)
    expect = 0.7 * kd_kl_loss(s, t, lengths, 2.0) + 0.2 * ctc_loss(s, lengths, tg, tl)
    assert out.total.item() == pytest.approx(expect.item(), rel=1e-6)
    assert set(out.parts) == {"kl", "ctc", "total"}
    with pytest.raises(ValueError):
        DistillationLoss(kl=0, ctc=0)


def test_golden_values():
    golden = json.loads((FIXTURES / "golden_losses.json").read_text())
    g = torch.Generator().manual_seed(1234)
    s, t = torch.randn(2, 5, 4, generator=g), torch.randn(2, 5, 4, generator=g)
    lengths = torch.tensor([5, 3])
    got = {
        "kl_t1": kd_kl_loss(s, t, lengths, 1.0).item(),
        "kl_t4": kd_kl_loss(s, t, lengths, 4.0).item(),
        "kl_drop_t2": kd_kl_loss(s, t, lengths, 2.0, blank_mode="drop").item(),
        "kl_downweight_t2": kd_kl_loss(s, t, lengths, 2.0, blank_mode="downweight").item(),
        "kl_top2_t2": kd_kl_loss(s, t, lengths, 2.0, topk=2).item(),
        "feature_mse": feature_mse_loss(s, t, lengths).item(),
        "ctc": ctc_loss(s, lengths, torch.tensor([1, 2, 3, 1]), torch.tensor([3, 1])).item(),
    }
    for k, v in golden.items():
        assert got[k] == pytest.approx(v, rel=1e-5), k


@pytest.mark.parametrize("module", ["signdistill.losses", "signdistill.checkpoint", "signdistill.export", "signdistill.inference"])
def test_import_needs_torch_only(module):
    """A researcher imports losses, and a deployment loads or exports a checkpoint, without the training stack."""
    code = (
        f"import sys, {module}\n"
        "heavy = ('typer', 'pydantic', 'rich', 'yaml', 'pyctcdecode', 'kenlm', 'flashlight', 'signdistill.config',\n"
        "         'signdistill.training')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _brute_force_spikes(lp, targets):
    """Best CTC path by enumeration (tiny T and V only): first frame of each label."""
    import itertools

    t_len, v = lp.shape
    best, best_path = -float("inf"), None
    for path in itertools.product(range(v), repeat=t_len):
        collapsed, prev = [], None
        for p in path:
            if p != prev and p != 0:
                collapsed.append(p)
            prev = p
        if collapsed != list(targets):
            continue
        score = sum(float(lp[t, p]) for t, p in enumerate(path))
        if score > best:
            best, best_path = score, path
    if best_path is None:
        return [-1] * len(targets)
    frames, k, prev = [], 0, None
    for t, p in enumerate(best_path):
        if p != 0 and p != prev:
            frames.append(t)
            k += 1
        prev = p
    return frames


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(1, 2), min_size=1, max_size=3), st.integers(0, 2**16))
def test_ctc_spike_frames_match_brute_force(t_len, targets, seed):
    from signdistill.losses import ctc_spike_frames

    g = torch.Generator().manual_seed(seed)
    lp = torch.log_softmax(torch.randn(t_len, 3, generator=g) * 3, -1)
    got = ctc_spike_frames(lp[None], torch.tensor([t_len]), torch.tensor(targets), torch.tensor([len(targets)]))[0].tolist()
    assert got == _brute_force_spikes(lp, targets)


def test_aligned_kd_ignores_timing_but_not_identity():
    from signdistill.losses import aligned_kd_loss

    v, t_len = 5, 12

    def spikes(frames_labels, conf=0.0):
        x = torch.full((1, t_len, v), -8.0)
        x[0, :, 0] = 0.0
        for f, lab in frames_labels:
            x[0, f, :] = -8.0
            x[0, f, lab] = 0.0
            x[0, f, 4] = conf  # a confusion the teacher has
        return x

    lengths, targets, tl = torch.tensor([t_len]), torch.tensor([2, 3]), torch.tensor([2])
    teacher = spikes([(10, 2), (11, 3)], conf=-1.0)  # fires both glosses at the very end
    student_same_identity = spikes([(3, 2), (7, 3)], conf=-1.0)  # fires mid-utterance, same distributions
    frame = kd_kl_loss(student_same_identity, teacher, lengths, 1.0)
    aligned = aligned_kd_loss(student_same_identity, teacher, lengths, targets, tl, 1.0)
    assert frame.item() > 1.0 and aligned.item() < 1e-5  # frame KD punishes timing; aligned KD does not
    wrong = spikes([(3, 3), (7, 2)])
    assert aligned_kd_loss(wrong, teacher, lengths, torch.tensor([3, 2]), tl, 1.0).item() > 0


def test_guided_ctc_pulls_spikes_to_the_guide():
    from signdistill.losses import guided_ctc_loss

    logits = torch.zeros(1, 6, 4, requires_grad=True)
    guide = torch.full((1, 6, 4), -5.0)
    guide[0, :, 0] = 0.0
    guide[0, 2, 3] = 5.0  # the guide fires label 3 at frame 2
    loss = guided_ctc_loss(logits, guide, torch.tensor([6]))
    loss.backward()
    assert loss.item() == pytest.approx(-0.25)
    assert logits.grad[0, 2, 3] < 0 and logits.grad[0, 0].abs().sum() == 0


def _reference_factorized(s, t, lengths, temp, gloss_weight=1.0, teacher_weighted=False):
    """float64, per frame, by hand: binary blank/not-blank KL + gloss KL over classes 1..V-1."""
    total, n = 0.0, 0
    for b in range(s.shape[0]):
        for i in range(int(lengths[b])):
            p = torch.softmax(t[b, i].double() / temp, -1)
            q = torch.softmax(s[b, i].double() / temp, -1)
            pb, qb = p[0], q[0]
            binary = pb * torch.log(pb / qb) + (1 - pb) * torch.log((1 - pb) / (1 - qb))
            pg, qg = p[1:] / (1 - pb), q[1:] / (1 - qb)
            gloss = (pg * torch.log(pg / qg)).sum()
            if teacher_weighted:
                gloss = gloss * (1 - pb)
            total += float(binary + gloss_weight * gloss) * temp**2
            n += 1
    return total / max(n, 1)


@settings(max_examples=40, deadline=None)
@given(batches(max_v=6), st.floats(0.5, 4.0), st.floats(0.0, 3.0))
def test_factorized_kd_matches_float64_reference(batch, temp, gloss_weight):
    from signdistill.losses import factorized_kd_loss

    s, t, lengths = batch
    s, t = s.clamp(-6, 6), t.clamp(-6, 6)  # keep 1 - p_blank away from 0 in the reference
    if s.shape[-1] < 3:
        return
    got = factorized_kd_loss(s, t, lengths, temp, gloss_weight=gloss_weight)
    assert got.item() == pytest.approx(_reference_factorized(s, t, lengths, temp, gloss_weight), rel=1e-4, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(batches(), st.floats(0.5, 4.0))
def test_factorized_kd_with_teacher_weighting_is_plain_frame_kd(batch, temp):
    """The chain rule of KL: binary + (1 - p_blank) * gloss KL equals the full frame KL."""
    from signdistill.losses import factorized_kd_loss

    s, t, lengths = batch
    got = factorized_kd_loss(s, t, lengths, temp, gloss_frames="teacher")
    assert got.item() == pytest.approx(kd_kl_loss(s, t, lengths, temp).item(), rel=1e-4, abs=1e-5)


def test_factorized_kd_teaches_glosses_on_blank_frames():
    """On a frame where the teacher is 99.9 % blank, plain KD barely cares which gloss the student
    prefers; factorized KD still teaches the teacher's gloss ranking there."""
    from signdistill.losses import factorized_kd_loss

    t = torch.tensor([[[7.0, 0.0, -3.0]]])  # blank, then gloss 1 >> gloss 2
    right = torch.tensor([[[7.0, 0.0, -3.0]]])
    wrong = torch.tensor([[[7.0, -3.0, 0.0]]], requires_grad=True)
    lengths = torch.tensor([1])
    plain = kd_kl_loss(wrong, t, lengths, 1.0).item()
    fact = factorized_kd_loss(wrong, t, lengths, 1.0).item()
    assert plain < 0.01 < 1.0 < fact
    assert factorized_kd_loss(right, t, lengths, 1.0).item() < 1e-6
    factorized_kd_loss(wrong, t, lengths, 1.0).backward()
    assert wrong.grad[0, 0, 1] < 0 < wrong.grad[0, 0, 2]  # gradient descent raises gloss 1, lowers gloss 2


def _reference_shift(s, t, lengths, temp, shift):
    total, n = 0.0, 0
    for b in range(s.shape[0]):
        n_b = int(lengths[b])
        for i in range(n_b):
            q = torch.softmax(s[b, i].double() / temp, -1)
            kls = []
            for j in range(max(0, i - shift), min(n_b, i + shift + 1)):
                p = torch.softmax(t[b, j].double() / temp, -1)
                kls.append(float((p * (p.log() - q.log())).sum()))
            total += min(kls) * temp**2
            n += 1
    return total / max(n, 1)


@settings(max_examples=40, deadline=None)
@given(batches(max_t=8), st.floats(0.5, 4.0), st.integers(0, 3))
def test_shift_tolerant_kd_matches_float64_reference(batch, temp, shift):
    from signdistill.losses import shift_tolerant_kd_loss

    s, t, lengths = batch
    got = shift_tolerant_kd_loss(s, t, lengths, temp, shift=shift)
    assert got.item() == pytest.approx(_reference_shift(s, t, lengths, temp, shift), rel=1e-4, abs=1e-5)
    if shift == 0:
        assert got.item() == pytest.approx(kd_kl_loss(s, t, lengths, temp).item(), rel=1e-4, abs=1e-5)


def test_shift_tolerant_kd_forgives_timing_within_the_window_only():
    from signdistill.losses import shift_tolerant_kd_loss

    v, t_len = 4, 12

    def spikes(frames_labels):
        x = torch.full((1, t_len, v), -6.0)
        x[0, :, 0] = 0.0
        for f, lab in frames_labels:
            x[0, f, :] = -6.0
            x[0, f, lab] = 0.0
        return x

    lengths = torch.tensor([t_len])
    teacher = spikes([(5, 2)])
    early2 = spikes([(3, 2)])  # the same gloss two frames earlier
    early4 = spikes([(1, 2)])
    frame = kd_kl_loss(early2, teacher, lengths, 1.0).item()
    assert frame > 0.5
    assert shift_tolerant_kd_loss(early2, teacher, lengths, 1.0, shift=2).item() < 1e-4
    assert shift_tolerant_kd_loss(early4, teacher, lengths, 1.0, shift=2).item() > 0.3  # outside the window
    # Padded frames are never used as teacher frames: a spike in padding does not count.
    padded = torch.tensor([4])
    assert shift_tolerant_kd_loss(spikes([(3, 2)]), teacher, padded, 1.0, shift=2).item() > 0.1


def test_distillation_loss_factorized_and_shift_parts():
    s, t = torch.randn(2, 8, 5, requires_grad=True), torch.randn(2, 8, 5)
    loss = DistillationLoss(kl=0.0, ctc=0.5, factorized=0.5, shift=0.25, shift_frames=1)
    out = loss(s, t, torch.tensor([8, 6]), torch.tensor([1, 2, 3]), torch.tensor([2, 1]), temperature=2.0)
    assert sorted(out.parts) == ["ctc", "factorized", "shift", "total"]
    expected = 0.5 * out.parts["ctc"] + 0.5 * out.parts["factorized"] + 0.25 * out.parts["shift"]
    assert out.parts["total"] == pytest.approx(expected, rel=1e-5)
    out.total.backward()
    assert torch.isfinite(s.grad).all()


def test_sampled_sequence_kd_estimates_the_exact_expectation():
    """Against a float64 enumeration of every alignment: sum_y P_T(y|x) * CTC(student, y) / |y|."""
    import itertools
    import math

    from signdistill.losses import sampled_sequence_kd_loss

    g = torch.Generator().manual_seed(1)
    s, t, lengths = torch.randn(1, 3, 3, generator=g), torch.randn(1, 3, 3, generator=g) * 2, torch.tensor([3])
    p = torch.softmax(t[0].double(), -1)
    exact = 0.0
    for path in itertools.product(range(3), repeat=3):
        prob = math.prod(float(p[i, c]) for i, c in enumerate(path))
        y = [c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c)]
        nll = ctc_loss(s.double(), lengths, torch.tensor(y, dtype=torch.long), torch.tensor([len(y)]), reduction="none")
        exact += prob * float(nll[0]) / max(len(y), 1)
    estimate = sampled_sequence_kd_loss(s, t, lengths, num_samples=20000, generator=torch.Generator().manual_seed(0))
    assert estimate.item() == pytest.approx(exact, rel=0.01)


def test_sampled_sequence_kd_of_a_confident_teacher_is_ctc_on_its_transcript():
    from signdistill.losses import sampled_sequence_kd_loss

    t = torch.full((2, 6, 4), -30.0)
    for b, path in enumerate([[0, 2, 2, 0, 3, 0], [1, 0, 1, 0, 0, 0]]):
        t[b, torch.arange(6), torch.tensor(path)] = 0.0
    lengths = torch.tensor([6, 4])
    s = torch.randn(2, 6, 4, requires_grad=True)
    got = sampled_sequence_kd_loss(s, t, lengths, num_samples=3)
    want = ctc_loss(s, lengths, torch.tensor([2, 3, 1, 1]), torch.tensor([2, 2]))
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    got.backward()
    assert torch.isfinite(s.grad).all() and s.grad[1, 4:].abs().sum() == 0  # padded frames get no gradient


def test_sampled_sequence_kd_never_samples_padding():
    from signdistill.losses import sampled_sequence_kd_loss

    t = torch.full((1, 5, 3), -30.0)
    t[0, :, 0] = 0.0
    t[0, 3:, :] = torch.tensor([-30.0, 0.0, -30.0])  # the teacher "says" gloss 1 only in the padding
    s = torch.zeros(1, 5, 3)
    blank_only = ctc_loss(s, torch.tensor([3]), torch.tensor([], dtype=torch.long), torch.tensor([0]))
    got = sampled_sequence_kd_loss(s, t, torch.tensor([3]), num_samples=4)
    assert got.item() == pytest.approx(blank_only.item(), rel=1e-5)


def test_sampled_sequence_kd_ignores_padding_and_flags_a_nonfinite_teacher():
    from signdistill.losses import sampled_sequence_kd_loss

    t = torch.randn(2, 6, 4)
    t[1, 4:] = float("nan")  # padding content, never read
    s = torch.randn(2, 6, 4)
    assert torch.isfinite(sampled_sequence_kd_loss(s, t, torch.tensor([6, 4])))
    t[0, 2, 1] = float("nan")  # a real frame: the loss says so instead of crashing in multinomial
    assert torch.isnan(sampled_sequence_kd_loss(s, t, torch.tensor([6, 4])))


def test_shift_tolerant_kd_of_empty_inputs_is_zero():
    from signdistill.losses import shift_tolerant_kd_loss

    assert shift_tolerant_kd_loss(torch.zeros(2, 0, 3), torch.zeros(2, 0, 3), torch.tensor([0, 0])).item() == 0.0
    assert shift_tolerant_kd_loss(torch.zeros(0, 5, 3), torch.zeros(0, 5, 3), torch.zeros(0, dtype=torch.long)).item() == 0.0
