#!/usr/bin/env python3
"""Compiles every ```cpp block of the given Markdown files (issue 16).

A block is compiled the way a reader reads it: with the blocks before it in
the same file, so a later block may use what an earlier one defined. A block
that has its own #include lines is a whole program or translation unit and
stands alone; the others get `#include <pollux/pollux.hpp>` (which the README
names as the one header to include) and `using namespace
std::chrono_literals;` in front. A block preceded by the line
`<!-- fragment -->` is statements, not declarations: it is wrapped in a
coroutine `pollux::Async<void>` so that it may `co_await`. A block that
defines `main` is also linked against the library given with --lib;
the others are checked with -fsyntax-only.

A snippet that uses names a reader can guess (an `io_context io`, a socket
`sock`) gets them from a hidden setup: an HTML comment that starts with
`<!-- setup` anywhere before the block holds declarations that are added to
the file's context, as a block would be, without being shown:

    <!-- setup
    namespace asio = boost::asio;
    inline asio::io_context io;
    -->

A block that does not compile is a bug in the document, not a reason to
mark it as a fragment.

usage: run.py --cxx 'COMPILER [ARGS]' --include DIR [--lib LIBFILE] FILE.md|DIR...
(--cxx is a command line, split as a shell would: "ccache clang++-16".)
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
import tempfile

PRELUDE = "#include <pollux/pollux.hpp>\n\n#include <chrono>\n\nusing namespace std::chrono_literals;\n"


def blocks(path):
    """Yields (line number, kind, code) for each ```cpp block (kind:
    "fragment" or "block") and each hidden setup comment (kind "setup")."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "<!-- setup":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "-->":
                j += 1
            yield start, "setup", "\n".join(lines[start:j]) + "\n"
            i = j
        elif lines[i].strip() == "```cpp":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            k = i - 1
            while k >= 0 and lines[k].strip() == "":
                k -= 1
            fragment = k >= 0 and lines[k].strip() == "<!-- fragment -->"
            yield start, "fragment" if fragment else "block", "\n".join(lines[start:j]) + "\n"
            i = j
        i += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--include", required=True)
    ap.add_argument("--lib")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    files = []
    for f in args.files:  # a directory stands for its *.md files, sorted
        if os.path.isdir(f):
            files += sorted(os.path.join(f, n) for n in os.listdir(f) if n.endswith(".md"))
        else:
            files.append(f)
    args.files = files
    cxx = shlex.split(args.cxx)
    flags = ["-std=c++20", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread",
             # A snippet shows how to get a value, not what to do with it.
             "-Wno-unused-variable", "-Wno-unused-but-set-variable",
             "-I" + args.include]
    failed = 0
    count = 0
    jobs = []  # (name, linked, command), compiled in parallel below
    with tempfile.TemporaryDirectory() as tmp:
        for md in args.files:
            context = []  # earlier blocks of this file that the next ones may use
            for n, (line, kind, code) in enumerate(blocks(md)):
                if kind == "setup":
                    context.append(code)
                    continue
                fragment = kind == "fragment"
                count += 1
                name = "%s:%d" % (os.path.relpath(md), line)
                if fragment:
                    body = "".join("    " + l + "\n" if l else "\n" for l in code.split("\n")[:-1])
                    unit = "pollux::Async<void> doc_fragment_%d() {\n%s    co_return;\n}\n" % (n, body)
                else:
                    unit = code
                standalone = re.search(r"^\s*#include", code, re.M) is not None
                if standalone:
                    source = unit
                else:
                    source = PRELUDE + "".join(context) + unit
                    context.append(unit)
                has_main = re.search(r"^int main\(", code, re.M) is not None
                src = os.path.join(tmp, "block_%d.cpp" % count)
                with open(src, "w", encoding="utf-8") as f:
                    f.write('#line 1 "%s (block at line %d)"\n' % (os.path.relpath(md), line))
                    f.write(source)
                if has_main and args.lib:
                    libdir = os.path.dirname(os.path.abspath(args.lib))
                    cmd = cxx + flags + [src, args.lib, "-Wl,-rpath," + libdir,
                                                "-o", os.path.join(tmp, "block_%d" % count)]
                else:
                    cmd = cxx + flags + ["-fsyntax-only", src]
                jobs.append((name, has_main and args.lib, cmd))
        # Each block parses all of pollux.hpp and -fsyntax-only is not
        # cached by ccache, so the blocks compile one per core; the report
        # keeps the documents' order.
        def compile_one(cmd):
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = pool.map(compile_one, [cmd for _, _, cmd in jobs])
            for (name, linked, _), r in zip(jobs, results):
                if r.returncode != 0:
                    failed += 1
                    print("FAIL %s\n%s" % (name, r.stdout[-4000:]))
                else:
                    print("ok   %s%s" % (name, " (linked)" if linked else ""))
    if count == 0:
        print("FAIL: no ```cpp blocks found")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
