#!/usr/bin/python3
"""Checks that the first C++ snippet of README.md is a verbatim excerpt of helloworld.cpp, so that
the code the README shows is code that builds and runs (docs snippets must come from code CI
builds). Usage: readme_snippet_test.py README.md helloworld.cpp"""
import re
import sys


def main(readme_path, source_path):
    readme = open(readme_path).read()
    source = open(source_path).read()
    m = re.search(r"```cpp\n(.*?)```", readme, re.S)
    if not m:
        print("FAIL: no ```cpp snippet in %s" % readme_path)
        return 1
    snippet = m.group(1)
    if snippet not in source:
        print("FAIL: the first snippet of %s is not an excerpt of %s:\n%s" % (readme_path, source_path, snippet))
        return 1
    if "write(\"Hello, world\")" not in snippet or "IOLoop::current().start()" not in snippet:
        print("FAIL: the snippet does not show the handler and the loop")
        return 1
    print("PASS: README's snippet (%d lines) is in %s" % (snippet.count("\n"), source_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
