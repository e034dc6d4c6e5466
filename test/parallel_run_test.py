#!/usr/bin/env python3
"""Black-box test of the parallel_run samples (DESIGN section 7).

    parallel_run_test.py SAMPLE [unittest arguments]

SAMPLE is samples/parallel_run or samples/parallel_run_callback (both keep
the same contract); samples/meson.build runs this file once per sample in
the `integration` suite. The contract: one command per stdin line, each run
with `/bin/sh -c`, at most N at a time (`-j N`); each child's stdout and
stderr lines copied to ours prefixed `[i] `; then one line per failed
command on stderr (`[i] exit CODE`, `[i] signal NAME`); exit 0 if every
command succeeded, else 1; each command's stdin is empty; SIGINT/SIGTERM
kill the running commands' whole process groups (SIGKILL after a short
grace period), start no more, and exit 1 once they are reaped.

Timing: no upper bounds on elapsed time; timeouts below are hang guards
only.
"""

import os
import pty
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SAMPLE = None
# A hang guard, not a bound: the slowest case takes a few seconds.
GUARD_S = 60


def run(commands, *args, stdin=None):
    """Runs the sample on `commands` (a list of lines) and returns the
    CompletedProcess (text stdout and stderr)."""
    text = "".join(c + "\n" for c in commands) if stdin is None else stdin
    return subprocess.run([SAMPLE, *args], input=text, capture_output=True, text=True,
                          timeout=GUARD_S)


def exited(pid):
    """True if `pid` is no longer running: absent, or a zombie left for an
    init that does not reap (as in some containers)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    # The state follows the command name's closing parenthesis.
    return stat[stat.rindex(")") + 2] in "ZX"


def gone(pid):
    """True once `pid` has exited, waiting up to GUARD_S for it. A killed
    process closes its descriptors (the sample sees end of file on its pipes
    and may exit) a moment before it becomes a zombie, so the check waits
    for that moment; a survivor still fails, after the guard."""
    deadline = time.monotonic() + GUARD_S
    while not exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Started:
    """The sample started in the background on `commands`, with stdout read
    line by line (so a test can wait for a command to be running)."""

    def __init__(self, commands, *args):
        self.proc = subprocess.Popen([SAMPLE, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.proc.stdin.write("".join(c + "\n" for c in commands))
        self.proc.stdin.close()
        # communicate() must not touch the closed stdin.
        self.proc.stdin = None
        self.lines = []

    def wait_for_line(self, line):
        deadline = time.monotonic() + GUARD_S
        while line not in self.lines:
            if time.monotonic() > deadline:
                raise AssertionError(f"no line {line!r} in {self.lines!r}")
            got = self.proc.stdout.readline()
            if not got:
                raise AssertionError(f"stdout ended before {line!r}: {self.lines!r}")
            self.lines.append(got.rstrip("\n"))

    def finish(self):
        """Waits for exit; returns (returncode, rest of stdout, stderr)."""
        out, err = self.proc.communicate(timeout=GUARD_S)
        return self.proc.returncode, out, err


class ParallelRunTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="parallel_run_test.")
        self.pids_to_reap = []

    def tearDown(self):
        # A survivor would be the sample's bug; do not leave it running.
        for pid in self.pids_to_reap:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def path(self, name):
        return os.path.join(self.dir, name)

    def read_pid(self, name):
        with open(self.path(name)) as f:
            pid = int(f.read())
        self.pids_to_reap.append(pid)
        return pid

    def max_overlap(self, count):
        """The most of `count` commands' recorded intervals that overlap."""
        events = []
        for i in range(count):
            with open(self.path(f"t{i}")) as f:
                start, end = map(int, f.read().split())
            events += [(start, 1), (end, -1)]
        most = now = 0
        for _, step in sorted(events):
            now += step
            most = max(most, now)
        return most

    def test_each_output_line_is_prefixed_with_its_command_line_number(self):
        r = run(["echo a; echo b", "echo c >&2", "printf 'd\\ne\\n'"], "-j", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["[0] a", "[0] b", "[2] d", "[2] e"])
        self.assertEqual(r.stderr.splitlines(), ["[1] c"])

    def test_a_last_line_without_newline_is_printed_as_a_whole_line(self):
        r = run(["printf abc", "printf err >&2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "[0] abc\n")
        self.assertEqual(r.stderr, "[1] err\n")

    def test_lines_of_parallel_commands_are_never_mixed(self):
        # Two commands write many long lines at once: each of our lines is
        # one whole line of one command, and each command's lines keep
        # their order.
        n = 2000
        body = "x" * 200
        cmds = [f"i=0; while [ $i -lt {n} ]; do echo {k}{body}$i; i=$((i+1)); done"
                for k in "ab"]
        r = run(cmds, "-j", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {"[0] ": [], "[1] ": []}
        for line in r.stdout.splitlines():
            self.assertIn(line[:4], got, line[:60])
            got[line[:4]].append(line[4:])
        for k, prefix in zip("ab", ["[0] ", "[1] "]):
            self.assertEqual(got[prefix], [f"{k}{body}{i}" for i in range(n)])

    def test_every_command_succeeding_exits_0_with_no_summary(self):
        r = run(["true", "exit 0", "echo ok"])
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr, "")

    def test_failed_commands_are_summarised_on_stderr_and_exit_is_1(self):
        r = run(["exit 3", "true", "kill -TERM $$", "nosuch_command_xyz 2>/dev/null"],
                "-j", "2")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines(),
                         ["[0] exit 3", "[2] signal SIGTERM", "[3] exit 127"])

    def test_each_command_reads_end_of_file_from_its_stdin(self):
        # If `cat` got our stdin it would swallow the next command (or hang).
        r = run(["cat", "echo after"], "-j", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["[1] after"])

    def test_no_commands_exits_0(self):
        r = run([])
        self.assertEqual(r.returncode, 0)
        self.assertEqual((r.stdout, r.stderr), ("", ""))

    def test_at_most_n_commands_run_at_once(self):
        # Each command records when it ran (nanoseconds); the intervals
        # nest inside the children's lifetimes, so more than N overlapping
        # intervals would mean more than N children at once.
        cmds = [f"s=$(date +%s%N); sleep 0.5; echo $s $(date +%s%N) > {self.path(f't{i}')}"
                for i in range(6)]
        r = run(cmds, "-j", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLessEqual(self.max_overlap(6), 2)

    def test_j_1_runs_the_commands_one_after_another_in_order(self):
        log = self.path("log")
        cmds = [f"echo start {i} >> {log}; sleep 0.1; echo end {i} >> {log}" for i in range(4)]
        r = run(cmds, "-j", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(log) as f:
            self.assertEqual(f.read().split("\n")[:-1],
                             [f"{w} {i}" for i in range(4) for w in ("start", "end")])

    def test_commands_run_in_parallel_up_to_n(self):
        # Four commands wait for each other: they finish only if all four
        # run at once.
        cmds = [f"touch {self.path(str(i))}; "
                f"while [ $(ls {self.dir} | wc -l) -lt 4 ]; do sleep 0.05; done; echo {i}"
                for i in range(4)]
        r = run(cmds, "-j", "4")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.splitlines()), [f"[{i}] {i}" for i in range(4)])

    def test_without_j_the_limit_is_the_number_of_cpus(self):
        n = os.cpu_count()
        # n commands that finish only if all n run at once ...
        together = [f"touch {self.path(f'r{i}')}; "
                    f"while [ $(ls {self.dir} | grep -c '^r') -lt {n} ]; do sleep 0.05; done"
                    for i in range(n)]
        r = run(together)
        self.assertEqual(r.returncode, 0, r.stderr)
        # ... and never more than n at once.
        cmds = [f"s=$(date +%s%N); sleep 0.3; echo $s $(date +%s%N) > {self.path(f't{i}')}"
                for i in range(n + 2)]
        r = run(cmds)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLessEqual(self.max_overlap(n + 2), n)

    def test_a_bad_j_is_a_usage_error(self):
        for bad in (["-j", "0"], ["-j", "x"], ["-j"], ["--bogus"]):
            with self.subTest(args=bad):
                r = run(["echo no"], *bad)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, "")
                self.assertIn("usage", r.stderr)

    def interrupt(self, sig):
        # Command 0 leaves a background sleep in its process group; command
        # 2 must never start (-j 2: it waits for a free slot).
        cmds = [f"sleep 100 & echo $! > {self.path('bg')}; echo ready; wait",
                "echo ready1; exec sleep 100",
                f"touch {self.path('third')}"]
        s = Started(cmds, "-j", "2")
        s.wait_for_line("[0] ready")
        s.wait_for_line("[1] ready1")
        bg = self.read_pid("bg")
        s.proc.send_signal(sig)
        code, _, err = s.finish()
        self.assertEqual(code, 1)
        self.assertTrue(gone(bg), "command 0's background sleep survived")
        self.assertFalse(os.path.exists(self.path("third")), "a command started after the signal")
        self.assertIn("[0] signal SIGTERM", err.splitlines())
        self.assertIn("[1] signal SIGTERM", err.splitlines())

    def test_sigint_kills_the_running_commands_process_groups_and_exits_1(self):
        self.interrupt(signal.SIGINT)

    def test_sigterm_kills_the_running_commands_process_groups_and_exits_1(self):
        self.interrupt(signal.SIGTERM)

    def test_a_command_that_ignores_sigterm_is_sigkilled_after_the_grace_period(self):
        # `trap '' TERM` is inherited by sleep (ignored dispositions survive
        # exec), so only SIGKILL ends the group.
        cmds = [f"trap '' TERM; sleep 100 & echo $! > {self.path('bg')}; echo ready; wait"]
        s = Started(cmds)
        s.wait_for_line("[0] ready")
        bg = self.read_pid("bg")
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGINT)
        code, _, err = s.finish()
        self.assertEqual(code, 1)
        self.assertTrue(gone(bg), "the background sleep survived")
        self.assertEqual(err.splitlines(), ["[0] signal SIGKILL"])
        # A lower bound only: SIGTERM was given a grace period first.
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)

    def test_commands_are_read_from_a_regular_file(self):
        path = self.path("commands")
        with open(path, "w") as f:
            f.write("echo one\nexit 4\necho three")  # the last line has no newline
        with open(path) as f:
            r = subprocess.run([SAMPLE, "-j", "1"], stdin=f, capture_output=True, text=True,
                               timeout=GUARD_S)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines(), ["[0] one", "[2] three"])
        self.assertEqual(r.stderr.splitlines(), ["[1] exit 4"])

    def test_commands_are_read_from_a_terminal(self):
        # stdin is a terminal (the callback sample reads it with uv::Tty);
        # Ctrl-D at the start of a line is end of input.
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([SAMPLE, "-j", "1"], stdin=slave, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            os.close(slave)
            slave = -1
            os.write(master, b"echo one\necho two\n\x04")
            # Drain the terminal's echo so the child never blocks on it.
            out, err = None, None
            deadline = time.monotonic() + GUARD_S
            os.set_blocking(master, False)
            while p.poll() is None and time.monotonic() < deadline:
                try:
                    os.read(master, 4096)
                except (BlockingIOError, OSError):
                    time.sleep(0.01)
            out, err = p.communicate(timeout=GUARD_S)
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out.splitlines(), ["[0] one", "[1] two"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: parallel_run_test.py SAMPLE [unittest arguments]")
    SAMPLE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[2:]])
