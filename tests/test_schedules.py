import math

import pytest

from signdistill.losses import CosineSchedule, LinearSchedule, PiecewiseSchedule, make_schedule


def test_plan_schedule():
    s = make_schedule({"kind": "piecewise", "values": [4.0, 3.5, 3.0], "boundaries": [30, 70]}, 100)
    assert [s(e) for e in (1, 30, 31, 70, 71, 100)] == [4.0, 4.0, 3.5, 3.5, 3.0, 3.0]


def test_linear_and_cosine():
    lin = LinearSchedule(4.0, 2.0, 5)
    assert [lin(e) for e in (1, 3, 5, 9)] == [4.0, 3.0, 2.0, 2.0]
    cos = CosineSchedule(4.0, 2.0, 5)
    assert cos(1) == 4.0 and cos(5) == pytest.approx(2.0) and cos(3) == pytest.approx(3.0)
    assert cos(2) > lin(2)  # cosine stays high longer
    assert make_schedule(2.5, 10)(7) == 2.5
    assert make_schedule({"kind": "cosine", "start": 3, "end": 1}, 11)(6) == pytest.approx(2.0)


def test_bad_schedules():
    with pytest.raises(ValueError):
        PiecewiseSchedule((1.0,), (3,))
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule({"kind": "exp"}, 3)
    assert not math.isnan(LinearSchedule(1, 2, 1)(1))
