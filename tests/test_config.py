import pytest
import yaml

from signdistill.config import DistillRunConfig, RunConfig, dump_config, load_config
from signdistill.errors import ConfigError

BASE = {"run_dir": "r", "data": {"train": "a", "dev": "b"}, "model": {"preset": "student"}, "train": {"epochs": 1}}
DISTILL = {**BASE, "distill": {"teachers": [{"checkpoint": "t"}], "loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 1.0}}


def load(data, overrides=(), schema=RunConfig):
    return load_config(None, list(overrides), schema, data=data)


def test_minimal_config_and_override():
    cfg = load(BASE, ["optim.lr=3e-4", "train.precision=bf16", "model.layers=2"])
    assert cfg.optim.lr == 3e-4 and cfg.train.precision == "bf16" and cfg.model.layers == 2
    assert yaml.safe_load(dump_config(cfg))["optim"]["lr"] == 3e-4


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["optim.lrr=1"], "unknown key 'optim.lrr'. Did you mean 'optim.lr'"),
        (["optim.foo=1"], r"unknown key 'optim.foo'. Valid keys here: optim\.lr, "),  # not the parent 'optim', nor a far sibling
        (["optim.lr=-1"], r"optim.lr must be > 0 \(got -1\)"),
        (["train.epochs=many"], r"train.epochs must be a valid integer \(got 'many'\)"),
        (["model.preset=huge"], "model.preset"),
        (["nonsense"], "not of the form key.path=value"),
    ],
)
def test_bad_values(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load(BASE, overrides)


def test_missing_required_field():
    data = {k: v for k, v in BASE.items() if k != "train"}
    with pytest.raises(ConfigError, match="missing required field 'train'"):
        load(data)


def test_model_needs_preset_or_sizes():
    with pytest.raises(ConfigError, match="preset"):
        load({**BASE, "model": {"hidden": 3}})


def test_yaml_file_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("run_dir: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c.yaml, line \d+: not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    p.write_text("- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)
    p.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["distill.loss.kl=0", "distill.loss.ctc=0"], "all loss weights are zero"),
        (["distill.temperature=0"], "temperature"),
        (["distill.loss.feature=0.1", "distill.feature_layers=[]"], "needs feature_layers"),
        (["distill.feature_layers=[[0, 1]]"], "1-based"),
        (["distill.temperature={kind: piecewise, values: [4, 3], boundaries: [30, 70]}"], "one more entry"),
        (["distill.blank_mode=ignore"], "blank_mode"),
    ],
)
def test_distill_validation(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load(DISTILL, overrides, DistillRunConfig)


def test_example_configs_validate():
    from pathlib import Path

    root = Path(__file__).parents[1] / "examples" / "configs"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 6
    for f in files:  # without a schema, load_config takes the kind of config from its sections (as the CLI's commands do)
        load_config(f)


def test_configuration_reference_is_current():
    from pathlib import Path

    from signdistill.config import reference_markdown

    doc = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert doc.read_text() == reference_markdown() + "\n", "run: python -m signdistill.config > docs/configuration.md"


def test_loss_weights_left_out_are_zero_but_not_all():
    from pydantic import ValidationError

    from signdistill.config import LossWeights

    w = LossWeights(ctc=0.5, factorized=0.5)  # no `kl: 0` needed
    assert (w.kl, w.feature, w.sampled) == (0.0, 0.0, 0.0)
    with pytest.raises(ValidationError, match="all loss weights are zero"):
        LossWeights()


def test_the_distill_section_defaults_are_the_default_recipe():
    """A config that leaves out loss/temperature/feature_layers trains the `default` recipe of compare."""
    from signdistill.config import DistillSection
    from signdistill.recipes import RECOMMENDED_DISTILL, resolve_recipe

    d = DistillSection(teachers=[{"checkpoint": "t"}]).model_dump()
    want = {**{k: 0.0 for k in d["loss"]}, **RECOMMENDED_DISTILL["loss"]}
    assert d["loss"] == want
    assert d["temperature"] == RECOMMENDED_DISTILL["temperature"]
    assert [list(p) for p in d["feature_layers"]] == RECOMMENDED_DISTILL["feature_layers"]
    assert resolve_recipe("default", epochs=10, teacher_layers=2, student_layers=1) == {"feature_layers": [[1, 1]], **RECOMMENDED_DISTILL}
