"""`onebudget sandbox up`: five JSON lines, five sandboxes answering, a clean Ctrl-C."""

import json
import signal
import subprocess
import sys

import httpx
import pytest

from service.cli import main


def test_sandbox_up_serves_the_five_until_interrupted() -> None:
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "sandbox",
        "up",
        "--fault",
        "council:latency=0.5",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(5)]
        assert [line["kind"] for line in lines] == [
            "council",
            "housing",
            "employment",
            "equipment",
            "health",
        ]
        for line in lines:
            assert set(line) == {"name", "kind", "url"}
            described = httpx.get(f"{line['url']}/_sandbox", timeout=5).json()
            assert (described["kind"], described["name"]) == (line["kind"], line["name"])
        council = httpx.get(f"{lines[0]['url']}/_sandbox/faults", timeout=5).json()
        assert council["latency"] == 0.5
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sandbox_up_refuses_a_fault_a_sandbox_does_not_have(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sandbox", "up", "--fault", "housing:expired_token=1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "housing sandbox has no fault 'expired_token'" in err
    assert err.splitlines()[-1].startswith("hint: ")
    with pytest.raises(SystemExit) as exited:
        main(["sandbox", "up", "--fault", "latency=often"])
    assert exited.value.code == 2
    assert (
        "--fault: 'latency=often': the rate must be a number from 0 to 1" in capsys.readouterr().err
    )
