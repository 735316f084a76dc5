"""The small pure parts of `python -m bench.instructions` (the bench itself runs on purpose,
never in the tests): reading callgrind_annotate's totals, and the arithmetic per request."""

from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.instructions.callgrind import Window, per_request, program_totals
from bench.instructions.run import requests_served
from bench.load import Measured

ANNOTATED = """\
--------------------------------------------------------------------------------
Profile data file 'callgrind.out.3' (creator: callgrind-3.19.0)
--------------------------------------------------------------------------------
Events recorded:  Ir
Events shown:     Ir
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
2,043,957,047 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
471,505,189 (23.07%)  Python/ceval.c:_PyEval_EvalFrameDefault'2 [libpython3.11.so.1.0]
"""


def test_the_totals_are_read_from_the_program_totals_line() -> None:
    assert program_totals(ANNOTATED) == 2_043_957_047
    # Older callgrind_annotate prints no percentage; trailing spaces do not matter.
    assert program_totals("Ir\n---\n184,203,831  PROGRAM TOTALS  \n") == 184_203_831


def test_no_totals_line_is_an_error_not_a_zero() -> None:
    with pytest.raises(BenchError, match="PROGRAM TOTALS"):
        program_totals("Line 0: missing events line\n")


def test_a_request_costs_the_busy_count_less_the_idle_rate_over_as_long() -> None:
    idle = Window(instructions=2_000_000, seconds=10.0, dump=Path("idle"))  # 200,000 a second
    busy = Window(instructions=1_004_400_000, seconds=22.0, dump=Path("busy"))
    # 22 s of idle background (4.4 M) left out, then shared by the 400 requests.
    assert per_request(busy, idle, 400) == pytest.approx(2_500_000)
    assert idle.rate == 200_000


def test_a_window_with_no_request_is_an_error() -> None:
    window = Window(instructions=1_000, seconds=1.0, dump=Path("w"))
    with pytest.raises(BenchError, match="no request"):
        per_request(window, window, 0)


def test_the_requests_served_are_the_2xx_answers_and_one_in_flight_a_connection() -> None:
    # wrk stops at its deadline with a request sent on each connection: the server serves it
    # inside the window (spend rows showed one more than wrk's answers, run after run).
    measured = Measured(name="counted", rate=30.0, answered=610)
    assert requests_served(measured, 1) == 611
    assert requests_served(measured, 4) == 614
