#!/usr/bin/env python3
"""Black-box test of samples/tail_follow (DESIGN section 7).

    tail_follow_test.py SAMPLE [unittest arguments]

The contract: `tail_follow FILE` prints on stdout each line appended to FILE
after it started (it says `tail_follow: following FILE from byte N` on
stderr once it watches), a line written in several appends once and whole,
and after FILE is truncated the lines written from its start; SIGINT or
SIGTERM make it exit 0. A missing FILE exits 1, a bad command line 2.

Timing: no upper bounds on elapsed time; timeouts below are hang guards
only.
"""

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SAMPLE = None
# A hang guard, not a bound.
GUARD_S = 60


class Follow:
    """The sample following `path`, its stdout read line by line on a
    thread (so a test can wait for a line without blocking forever)."""

    def __init__(self, path):
        self.proc = subprocess.Popen([SAMPLE, path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        banner = self.proc.stderr.readline()
        assert banner.startswith("tail_follow: following "), banner
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self):
        return self.lines.get(timeout=GUARD_S)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=GUARD_S)
        self.reader.join(timeout=GUARD_S)
        rest = []
        while True:
            line = self.lines.get(timeout=GUARD_S)
            if line is None:
                break
            rest.append(line)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, rest


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


class TailFollowTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "log")
        with open(self.path, "w") as f:
            f.write("old line, not printed\n")

    def tearDown(self):
        self.dir.cleanup()

    def test_appended_lines_appear_and_sigterm_exits_0(self):
        t = Follow(self.path)
        append(self.path, "one\n")
        self.assertEqual(t.next_line(), "one\n")
        append(self.path, "two\nthree\n")
        self.assertEqual(t.next_line(), "two\n")
        self.assertEqual(t.next_line(), "three\n")
        rc, rest = t.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(rest, [])

    def test_a_line_split_across_appends_is_printed_once_whole(self):
        t = Follow(self.path)
        append(self.path, "hel")
        # Make sure the first part was seen alone: a marker line after it
        # would join it, so wait a moment instead (not a bound: if the
        # sample reads both parts together the test still holds).
        time.sleep(0.2)
        append(self.path, "lo\n")
        self.assertEqual(t.next_line(), "hello\n")
        rc, _ = t.stop()
        self.assertEqual(rc, 0)

    def test_after_truncation_lines_are_read_from_the_start(self):
        t = Follow(self.path)
        append(self.path, "before\n")
        self.assertEqual(t.next_line(), "before\n")
        with open(self.path, "w") as f:  # truncates
            f.write("a\n")
        self.assertEqual(t.next_line(), "a\n")
        append(self.path, "b\n")
        self.assertEqual(t.next_line(), "b\n")
        rc, _ = t.stop()
        self.assertEqual(rc, 0)

    def test_sigint_exits_0_and_prints_the_unfinished_line(self):
        t = Follow(self.path)
        append(self.path, "done\npart")
        self.assertEqual(t.next_line(), "done\n")
        time.sleep(0.2)  # let it read "part" (if not, it is simply not printed)
        rc, rest = t.stop(signal.SIGINT)
        self.assertEqual(rc, 0)
        self.assertIn(rest, ([], ["part"]))

    def test_many_lines_arrive_in_order(self):
        t = Follow(self.path)
        for i in range(1000):
            append(self.path, f"line {i}\n")
        for i in range(1000):
            self.assertEqual(t.next_line(), f"line {i}\n")
        rc, _ = t.stop()
        self.assertEqual(rc, 0)

    def test_missing_file_exits_1_and_bad_usage_2(self):
        p = subprocess.run([SAMPLE, os.path.join(self.dir.name, "nope")],
                           capture_output=True, text=True, timeout=GUARD_S)
        self.assertEqual(p.returncode, 1)
        p = subprocess.run([SAMPLE], capture_output=True, text=True, timeout=GUARD_S)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: tail_follow_test.py SAMPLE [unittest arguments]")
    SAMPLE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[2:]])
