"""benchmarks/profile_step.py's accounting: every microsecond of a step on the device goes to one
operation, asynchronous products included (their trace holds only a launch and an end marker)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from profile_step import operation_times  # noqa: E402


def event(name: str, start: float, duration: float) -> dict:
    return {"name": name, "ph": "X", "ts": start, "dur": duration}


def test_idle_time_goes_to_the_asynchronous_product_in_flight_then_to_untraced():
    events = [
        event("ThunkExecutor::Execute (wait for completion)", 0, 100),  # the step: 100 us on the device
        event("fusion.1", 0, 10),
        event("dot.7", 10, 1), event("end: dot.7", 39, 1),  # launched at 10, done at 40
        event("dot.8", 12, 1), event("end: dot.8", 59, 1),  # launched at 12, done at 60
        event("fusion.2", 30, 5),  # runs while both products are in flight
        event("ThreadpoolListener::Record", 50, 2),  # the thread pool's own events are not operations
        event("fusion.3", 70, 30),
    ]
    totals, device = operation_times(events)
    assert device == 100
    # idle: 11-12 (dot.7 alone), 13-30 and 35-40 (both: halves), 40-60 (dot.8 alone), 60-70 (nothing)
    assert totals["dot.7 (async)"] == 1 + 17 / 2 + 5 / 2
    assert totals["dot.8 (async)"] == 17 / 2 + 5 / 2 + 20
    assert totals["(untraced)"] == 10
    assert (totals["fusion.1"], totals["fusion.2"], totals["fusion.3"], totals["dot.7"], totals["dot.8"]) == (10, 5, 30, 1, 1)
    assert sum(totals.values()) == device
    assert "ThreadpoolListener::Record" not in totals


def test_only_the_time_inside_a_step_is_shared_out():
    events = [event("ThunkExecutor::Execute (wait for completion)", 100, 20), event("fusion.1", 100, 5),
              event("fusion.9", 0, 50), event("fusion.2", 110, 10), event("fusion.10", 200, 10)]  # 9, 10: other steps
    totals, device = operation_times(events)
    assert device == 20
    assert totals["(untraced)"] == 5  # 105-110; not the time before the step began or after it ended
