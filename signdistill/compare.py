"""Moved to :mod:`signdistill.pipelines.compare`; this alias keeps old imports (and pickled
references held by a comparison started with an earlier version) working."""

from signdistill.pipelines.compare import *  # noqa: F403
from signdistill.pipelines.compare import Job, _Task, run_beam_job, run_job  # noqa: F401
