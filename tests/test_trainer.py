import pytest
import torch

from signdistill import pipelines
from signdistill.config import load_config
from signdistill.io import replace_dir_atomic
from signdistill.training import load_checkpoint
from signdistill.training.checkpoint import load_training_state
from signdistill.training.trainer import lr_lambda
from tests.conftest import make_run_config


def _weights(path):
    return load_checkpoint(path).model.state_dict()


class Killed(Exception):
    pass


def _trainer(cfg):
    from signdistill.models import build_model
    from signdistill.training import CTCObjective, Trainer
    from signdistill.training.trainer import seed_everything

    splits = pipelines.load_splits(cfg)
    seed_everything(cfg.seed)
    model = build_model(36, len(splits.vocab), **cfg.model.build_kwargs())
    return Trainer(model, CTCObjective(), splits.train, splits.dev, cfg, splits.vocab, splits.normalizer)


def test_resume_after_crash_matches_uninterrupted_run(synth, tmp_path):
    full = load_config(None, [], data=make_run_config(tmp_path / "full", synth, epochs=3))
    _trainer(full).fit(resume=False)
    part = load_config(None, [], data=make_run_config(tmp_path / "part", synth, epochs=3))

    def crash(metrics):
        if metrics["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        _trainer(part).fit(resume=False, on_epoch_end=crash)
    torch.manual_seed(12345)  # a new process: the RNG state must come from the checkpoint
    result = _trainer(part).fit(resume=True)
    assert result.epochs_run == 3 and [h["epoch"] for h in result.history] == [1, 2, 3]
    a, b = _weights(tmp_path / "full" / "last"), _weights(tmp_path / "part" / "last")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_failed_save_leaves_previous_checkpoint(tmp_path):
    target = tmp_path / "best"
    replace_dir_atomic(target, lambda d: (d / "f").write_text("old"))

    def boom(d):
        (d / "f").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_dir_atomic(target, boom)
    assert (target / "f").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["best"]


def test_malicious_training_state_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "last").mkdir()
    with open(tmp_path / "last" / "training_state.pt", "wb") as f:
        pickle.dump({"x": Evil()}, f)
    from signdistill.errors import SignDistillError

    with pytest.raises(SignDistillError, match="cannot be loaded safely"):
        load_training_state(tmp_path / "last")


def test_lr_schedule_shape():
    assert lr_lambda(0, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_lambda(9, 10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_lambda(100, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_lambda(55, 10, 100, "linear", 0.0) == pytest.approx(0.5)
    assert lr_lambda(500, 0, 100, "constant", 0.0) == 1.0


def test_bf16_and_accumulation_and_nonfinite_skip(synth, tmp_path, caplog):
    from signdistill.training import CTCObjective, Trainer
    from signdistill.training.objectives import LossOutput

    cfg = load_config(None, ["train.precision=bf16", "optim.accumulate=2", "train.epochs=1"], data=make_run_config(tmp_path / "r", synth))
    splits = pipelines.load_splits(cfg)
    from signdistill.models import build_model

    class SometimesNaN(CTCObjective):
        calls = 0

        def forward(self, model, batch):
            out = super().forward(model, batch)
            SometimesNaN.calls += 1
            if SometimesNaN.calls == 1:
                return LossOutput(out.total * float("nan"), out.parts)
            return out

    model = build_model(36, len(splits.vocab), layers=1, hidden=8)
    trainer = Trainer(model, SometimesNaN(), splits.train, splits.dev, cfg, splits.vocab, splits.normalizer)
    result = trainer.fit(resume=False)
    assert result.history[0]["train/skipped_batches"] == 1
    assert "non-finite loss" in caplog.text
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_tensorboard_events_are_written(synth, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = load_config(None, ["train.tensorboard=true"], data=make_run_config(tmp_path / "tb", synth, epochs=1))
    pipelines.train(cfg)
    events = list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_output_bias_prior_gives_the_data_marginal():
    from signdistill.models import build_model
    from signdistill.models.bilstm import init_output_bias_from_prior

    model = build_model(6, 4, layers=1, hidden=4)
    init_output_bias_from_prior(model, [0, 30, 10, 0], total_frames=400)
    probs = torch.softmax(model.classifier.bias.detach(), 0).tolist()
    # blank holds the 360 frames no gloss occupies; an unseen gloss keeps a small, finite prior
    assert probs[0] == pytest.approx(0.9, abs=0.01) and probs[1] == pytest.approx(0.075, abs=0.005)
    assert 0 < probs[3] < probs[2]
    with pytest.raises(ValueError, match="at least one frame per gloss"):
        init_output_bias_from_prior(model, [0, 300, 200, 0], total_frames=400)


def test_run_reports_start_first_nonblank_step_and_still_improving(synth, tmp_path):
    events = {}

    class Rec:
        def epoch_start(self, *a):
            pass

        def step(self, m):
            pass

        def epoch_end(self, m):
            pass

        def run_start(self, info):
            events["start"] = info

        def run_end(self, info):
            events["end"] = info

    cfg = load_config(None, ["model.output_bias=prior", "optim.lr=0.01"], data=make_run_config(tmp_path / "r", synth, epochs=4))
    splits = pipelines.load_splits(cfg)
    model = pipelines.build_student_model(cfg, splits)
    from signdistill.training import CTCObjective, Trainer

    result = Trainer(model, CTCObjective(), splits.train, splits.dev, cfg, splits.vocab, splits.normalizer, reporter=Rec()).fit()
    assert events["start"]["parameters"] == model.num_parameters() and events["start"]["threads"] == torch.get_num_threads()
    assert events["end"]["still_improving"] == (result.best_epoch == 4)
    # with the prior bias the model starts all-blank and learns to emit glosses within these steps
    assert result.first_nonblank_step is None or result.first_nonblank_step % 10 == 0
    assert result.history[-1]["first_nonblank_step"] == result.first_nonblank_step


def test_activation_checkpointing_setting_reaches_the_model(synth, tmp_path, monkeypatch):
    import torch.utils.checkpoint as tuc

    calls = []
    real = tuc.checkpoint
    monkeypatch.setattr(tuc, "checkpoint", lambda fn, *a, **k: calls.append(fn) or real(fn, *a, **k))
    cfg = load_config(None, [], data=make_run_config(tmp_path / "run", synth, epochs=1, layers=2, activation_checkpointing=True))
    pipelines.train(cfg)
    assert calls  # every training forward recomputed its layers
    n = len(calls)
    cfg = load_config(None, [], data=make_run_config(tmp_path / "run2", synth, epochs=1, layers=2))
    pipelines.train(cfg)
    assert len(calls) == n  # off by default
