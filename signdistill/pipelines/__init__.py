"""Config -> run: the functions behind every CLI command (usable from Python).

One module per workflow: :mod:`~signdistill.pipelines.training` (train, distill, cache a
teacher), :mod:`~signdistill.pipelines.decoding` (evaluate, build an LM, tune a beam search,
report), :mod:`~signdistill.pipelines.quickstart` and :mod:`~signdistill.pipelines.compare`.
Every name below stays importable as ``signdistill.pipelines.X``. (``pipelines.quickstart`` is
the function; the module is ``signdistill.pipelines.quickstart`` in ``sys.modules``.)
"""

from signdistill.benchmark import INT8_BASELINES, ONNX_INT8_STATIC, BenchmarkReport, benchmark_models
from signdistill.decoding import decode_logits
from signdistill.decoding.beam import decoder_from_options
from signdistill.evaluation.scoring import DecodingScore
from signdistill.export import export
from signdistill.parity import ParityVerdict, read_check_manifest, verify_export
from signdistill.pipelines.compare_results import CompareResults, CompareSubmitted, QuickstartReport
from signdistill.pipelines.decoding import ModelOutputs, build_lm, evaluate, model_outputs, parse_grid, report, tune_decoder
from signdistill.pipelines.decoding_results import EvalResult, LmBuildResult, ReportResult, TuningResult, TuningRow
from signdistill.pipelines.quickstart import (
    QUICKSTART_MARKER,
    QUICKSTART_OUTPUTS,
    QUICKSTART_SIZES,
    QUICKSTART_STUDENT,
    QUICKSTART_TEACHER,
    check_quickstart_out,
    quickstart,
    quickstart_plan,
    quickstart_table,
    run_config,
)
from signdistill.pipelines.training import (
    Splits,
    build_distill_objective,
    build_student_model,
    cache_teacher,
    distill,
    distill_note,
    load_splits,
    teacher_passed_note,
    train,
)
from signdistill.training.run_dir import NO_EFFECT_SETTINGS, differing_settings, prepare_run_dir, start_run_dir
from signdistill.training.teacher_import import ImportReport, import_teacher_outputs

__all__ = [
    "BenchmarkReport",
    "CompareResults",
    "CompareSubmitted",
    "QuickstartReport",
    "DecodingScore",
    "EvalResult",
    "LmBuildResult",
    "ReportResult",
    "TuningResult",
    "TuningRow",
    "INT8_BASELINES",
    "ONNX_INT8_STATIC",
    "ParityVerdict",
    "NO_EFFECT_SETTINGS",
    "QUICKSTART_MARKER",
    "QUICKSTART_OUTPUTS",
    "QUICKSTART_SIZES",
    "QUICKSTART_STUDENT",
    "QUICKSTART_TEACHER",
    "ImportReport",
    "ModelOutputs",
    "Splits",
    "benchmark_models",
    "build_distill_objective",
    "build_lm",
    "build_student_model",
    "cache_teacher",
    "check_quickstart_out",
    "decode_logits",
    "decoder_from_options",
    "differing_settings",
    "distill",
    "distill_note",
    "teacher_passed_note",
    "evaluate",
    "export",
    "import_teacher_outputs",
    "load_splits",
    "model_outputs",
    "parse_grid",
    "prepare_run_dir",
    "quickstart",
    "quickstart_plan",
    "quickstart_table",
    "report",
    "run_config",
    "start_run_dir",
    "train",
    "tune_decoder",
    "read_check_manifest",
    "verify_export",
]
