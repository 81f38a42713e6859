"""The distillation loss as a table of terms (signdistill.losses.terms) and the one ensemble definition."""

import pytest
import torch

from signdistill.losses import (
    TERMS,
    DistillationLoss,
    TeacherTargets,
    TermInputs,
    factorized_kd_loss,
    kd_kl_loss,
    register_term,
    shift_tolerant_kd_loss,
    teacher_log_probs,
    term_names,
    term_options,
)


def _batch(seed=0, b=3, t=10, v=6):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(b, t, v, generator=g) * 2
    z1, z2 = torch.randn(b, t, v, generator=g) * 3, torch.randn(b, t, v, generator=g) * 3
    lengths = torch.tensor([t, t - 3, 4])
    return s, z1, z2, lengths, torch.tensor([1, 2, 3, 4, 5]), torch.tensor([2, 2, 1])


def _cached(z1, z2, weights, k):
    """What write_teacher_cache stores for an ensemble: the T = 1 mixture's top-k, values in fp16."""
    values, indices = teacher_log_probs([z1, z2], 1.0, weights=weights).topk(k, dim=-1)
    return values.half(), indices


def test_ensemble_online_cached_kl_and_factorized_agree_at_t2():
    """Several teachers at T != 1: one definition (the T = 1 mixture, tempered) for every term and the cache."""
    s, z1, z2, lengths, tg, tl = _batch()
    w, temp = [1.0, 2.0], 2.0
    online = kd_kl_loss(s, [z1, z2], lengths, temp, teacher_weights=w)
    cached = kd_kl_loss(s, None, lengths, temp, teacher_topk=_cached(z1, z2, w, s.shape[-1]))
    assert online.item() == pytest.approx(cached.item(), rel=2e-3)  # fp16 values in the cache
    # Factorized KD weighting the gloss term by the teacher's gloss mass is plain frame KD, and a
    # shift of 0 frames too: the same targets, so the same number.
    full = TeacherTargets([z1, z2], w).full
    assert full is not None
    fact = factorized_kd_loss(s, full, lengths, temp, gloss_frames="teacher")
    shift = shift_tolerant_kd_loss(s, full, lengths, temp, shift=0)
    assert fact.item() == pytest.approx(online.item(), rel=1e-5)
    assert shift.item() == pytest.approx(online.item(), rel=1e-5)
    # The definition, written out: p = sum_i w_i softmax(z_i) / sum w, p_T ∝ p^(1/T).
    p = (1 * torch.softmax(z1.double(), -1) + 2 * torch.softmax(z2.double(), -1)) / 3
    expect = torch.log_softmax(p.log() / temp, -1)
    assert torch.allclose(teacher_log_probs([z1, z2], temp, weights=w).double(), expect, atol=1e-5)
    # ... which is not the mixture of tempered posteriors (what the frame KL alone used before).
    tempered_mix = ((torch.softmax(z1.double() / temp, -1) + 2 * torch.softmax(z2.double() / temp, -1)) / 3).log()
    assert not torch.allclose(expect, tempered_mix, atol=1e-3)


def test_ensemble_distillation_loss_online_equals_cached_at_t2():
    s, z1, z2, lengths, tg, tl = _batch(1)
    loss = DistillationLoss(kl=0.5, ctc=0.5, blank_mode="keep")
    online = loss(s, TeacherTargets([z1, z2], [1.0, 3.0]), lengths, tg, tl, temperature=2.0)
    cached = loss(s, TeacherTargets(topk=_cached(z1, z2, [1.0, 3.0], 6)), lengths, tg, tl, temperature=2.0)
    assert online.parts["kl"] == pytest.approx(cached.parts["kl"], rel=2e-3)
    assert online.parts["ctc"] == cached.parts["ctc"]


def test_teacher_targets_value_equals_the_keyword_arguments_bitwise():
    s, z1, z2, lengths, tg, tl = _batch(2)
    seq = (torch.tensor([2, 3, 1]), torch.tensor([1, 1, 1]))
    loss = DistillationLoss(kl=0.3, ctc=0.2, sequence=0.2, factorized=0.2, aligned=0.1)
    for teacher, weights in ((z1, None), ([z1, z2], [1.0, 2.0])):
        a = s.clone().requires_grad_(True)
        b = s.clone().requires_grad_(True)
        out_a = loss(a, teacher, lengths, tg, tl, temperature=2.0, teacher_weights=weights, sequence_targets=seq)
        out_b = loss(b, TeacherTargets(teacher, weights, sequences=seq), lengths, tg, tl, temperature=2.0)
        (out_a.total + out_b.total).backward()
        assert out_a.parts == out_b.parts
        assert torch.equal(a.grad, b.grad)
    with pytest.raises(ValueError, match="inside TeacherTargets"):
        loss(s, TeacherTargets(z1), lengths, tg, tl, sequence_targets=seq)


def test_keyword_and_mapping_construction():
    """The documented keyword form and the pipeline's mapping form build the same loss."""
    kw = DistillationLoss(kl=0.5, ctc=0.5, blank_mode="drop")
    mapping = DistillationLoss({"kl": 0.5, "ctc": 0.5}, blank_mode="drop")
    assert kw.weights == mapping.weights and kw.options == mapping.options
    assert DistillationLoss(factorized=0.5).weights["kl"] == 0.5  # keywords keep the default kl/ctc .5
    assert DistillationLoss({"ctc": 1.0}).weights["kl"] == 0.0  # a mapping: the names left out weigh 0
    assert [t.name for t in DistillationLoss(kl=0.0, ctc=0.5, factorized=0.5).terms] == ["ctc", "factorized"]
    with pytest.raises(TypeError, match="shift_frames"):
        DistillationLoss(kl=0.5, shift_frame=2)
    with pytest.raises(ValueError, match="unknown loss term"):
        DistillationLoss({"kll": 0.5})
    with pytest.raises(ValueError, match="not all zero"):
        DistillationLoss({"kl": 0.0})
    with pytest.raises(ValueError, match="FeatureProjector"):
        DistillationLoss(feature=1.0)


def test_a_full_posterior_term_names_itself_without_full_logits():
    s, z1, _, lengths, tg, tl = _batch()
    cache = _cached(z1, z1, None, 3)
    with pytest.raises(ValueError, match="factorized KD needs the teacher's full logits"):
        DistillationLoss(kl=0.5, factorized=0.5)(s, None, lengths, tg, tl, teacher_topk=cache)


def test_a_new_term_is_one_registration():
    """A new term: its function, registered with its needs and options; the loss sums it like the others."""

    @register_term("_test_l2", needs=["full"], options={"_test_scale": 1.0})
    def _l2(x: TermInputs) -> torch.Tensor:
        """Squared distance of the student's to the teacher's logits (a test term)."""
        assert x.teacher.full is not None
        return x.options["_test_scale"] * (x.student_logits - x.teacher.full).pow(2).mean()

    try:
        s, z1, _, lengths, tg, tl = _batch()
        with pytest.raises(ValueError, match="registered already"):
            register_term("_test_l2")(_l2)
        out = DistillationLoss(kl=0.0, ctc=0.5, _test_l2=0.25, _test_scale=2.0)(s, z1, lengths, tg, tl)
        assert out.parts["_test_l2"] == pytest.approx(2.0 * float((s - z1).pow(2).mean()))
        assert out.parts["total"] == pytest.approx(0.5 * out.parts["ctc"] + 0.25 * out.parts["_test_l2"], rel=1e-6)
        assert TERMS["_test_l2"].summary.startswith("Squared distance")
    finally:
        del TERMS["_test_l2"]


def test_config_schema_matches_the_term_table():
    """The config is torch-free and cannot read the table, so this test keeps the two equal:
    one weight per term, the cache refusal for terms that need the full teacher, one default per option."""
    from signdistill.config import DistillSection, LossWeights

    assert set(LossWeights.model_fields) == set(term_names())
    everything = LossWeights(**dict.fromkeys(term_names(), 1.0))
    assert set(everything.needing_full_teacher()) == {n for n, t in TERMS.items() if t.needs & {"full", "hidden"}}
    for name, default in term_options().items():
        assert name in DistillSection.model_fields, f"term option {name} has no distill.{name} in the config"
        assert DistillSection.model_fields[name].default == default, name
