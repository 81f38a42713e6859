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
