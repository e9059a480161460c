"""The `fleet` executable leaves without module teardown, and loses nothing doing so:
exit status, buffered output, threads, thread pools and ``atexit`` handlers; it loads
a one-shot command's modules without the garbage collector walking them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.support import REPO

# Runs `fleet` (worker.cli.run) with MAIN standing in for the command group.
HARNESS = """
import atexit, gc, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import worker.cli

class TornDown:
    def __del__(self):
        sys.stderr.write("torn down\\n")

kept_until_teardown = TornDown()
{main}
worker.cli.main = main
worker.cli.run()
"""


def _fleet_with(main: str) -> subprocess.CompletedProcess[str]:
    code = HARNESS.format(main=textwrap.dedent(main))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=20
    )


def test_threads_and_exit_handlers_finish_and_output_is_written_before_the_exit():
    ran = _fleet_with(
        """
        def main():
            def late():
                time.sleep(0.3)
                print("thread finished", flush=True)

            atexit.register(print, "exit handler ran")
            threading.Thread(target=late).start()
            print("buffered, never flushed by hand", end="")
            sys.exit(3)
        """
    )

    assert ran.returncode == 3
    assert ran.stdout.splitlines() == [
        "buffered, never flushed by handthread finished",
        "exit handler ran",
    ]
    assert "torn down" not in ran.stderr  # the teardown was skipped


def test_a_thread_pool_left_running_is_shut_down_as_the_interpreter_would():
    # Flower leaves executors like this one: their workers wait for the
    # interpreter's exit hook, which must still run.
    ran = _fleet_with(
        """
        pool = ThreadPoolExecutor(2)

        def main():
            pool.submit(time.sleep, 0.1)
            print("submitted")
        """
    )

    assert (ran.returncode, ran.stdout.strip()) == (0, "submitted")


def test_exit_statuses_are_those_sys_exit_and_the_interpreter_give():
    message = _fleet_with("def main(): sys.exit('went wrong')")
    success = _fleet_with("def main(): sys.exit(None)")
    crash = _fleet_with("def main(): 1 / 0")

    assert (message.returncode, message.stderr.strip()) == (1, "went wrong")
    assert success.returncode == 0
    assert crash.returncode == 1
    assert "ZeroDivisionError" in crash.stderr


LOADING = """
def main():
    from worker.cli import loading

    with loading():
        during = gc.isenabled()
        import worker.app
    print(during, gc.isenabled(), gc.get_freeze_count() > 0)
"""


def test_loading_runs_without_the_collector_and_freezes_what_it_loaded():
    ran = _fleet_with(LOADING)

    assert (ran.returncode, ran.stdout.split()) == (0, ["False", "True", "True"])


def test_loading_freezes_nothing_in_a_process_that_only_embeds_the_cli():
    code = "import gc, sys\n" + LOADING + "main()\n"
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=20
    )

    assert ran.stdout.split() == ["False", "True", "False"]


def test_a_command_error_keeps_click_s_message_and_status():
    ran = subprocess.run(
        [sys.executable, "-m", "worker.cli", "call", "github.no_such_tool", "{}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 1
    assert "unknown tool 'github.no_such_tool'" in ran.stderr


def test_a_large_output_reaches_a_pipe_whole():
    listed = subprocess.run(
        [sys.executable, "-m", "worker.cli", "tools", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert listed.returncode == 0
    tools = json.loads(listed.stdout)
    assert len(listed.stdout) > 8 * 1024  # several buffers: the last one written at exit
    assert {tool["name"] for tool in tools} >= {"http.request", "github.create_issue"}
