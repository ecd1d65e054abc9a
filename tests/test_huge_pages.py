"""glibc's huge pages for XLA's large buffers (minitrans.HUGE_PAGES): the restarted process really
maps a large allocation in 2 MB pages, the `minitrans` command restarts itself, and the CLI
called from Python never does."""

import os
import subprocess
import sys
from pathlib import Path

import minitrans
import minitrans.cli

TOUCH_256_MB = """
import ctypes, os, resource, sys
import minitrans
if sys.argv[1] == "restart":
    minitrans.restart_with_huge_pages()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
buffer = libc.malloc(256 << 20)  # what XLA does for a large temporary: malloc, then the first writes
ctypes.memset(buffer, 1, 256 << 20)
print(os.environ.get("GLIBC_TUNABLES"), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_touching_256_mb(how: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", TOUCH_256_MB, how], env=env, capture_output=True, text=True, check=True)
    tunables, faults = out.stdout.split()
    return tunables, int(faults)


def test_the_restarted_process_fills_a_large_buffer_in_huge_pages():
    pages = (256 << 20) // 4096  # 65,536 pages of 4 KB
    tunables, faults = faults_touching_256_mb("as is")
    assert tunables == "None"
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not (setting.exists() and "[always]" in setting.read_text()):  # "always": huge pages without asking
        assert faults > 0.9 * pages  # every 4 KB page faults once
    tunables, faults = faults_touching_256_mb("restart")
    stripped = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if minitrans.huge_page_environment(stripped) is None:  # no glibc 2.35+ or no transparent huge pages here
        assert tunables == "None" and faults > 0.9 * pages
    else:
        assert tunables == minitrans.HUGE_PAGES
        assert faults < 0.05 * pages  # 2 MB pages: 128 faults, plus glibc's own


def test_huge_page_environment_adds_the_tunable_once_and_keeps_the_others():
    stripped = {"PATH": "/bin"}
    if minitrans.huge_page_environment(stripped) is None:
        return  # the first test checks this machine's answer
    assert minitrans.huge_page_environment(stripped) == {"PATH": "/bin", "GLIBC_TUNABLES": minitrans.HUGE_PAGES}
    kept = minitrans.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert kept["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{minitrans.HUGE_PAGES}"
    assert minitrans.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) is None  # the user's choice


def test_the_command_restarts_itself_and_a_call_from_python_never_does(monkeypatch):
    restarts = []
    monkeypatch.setattr(minitrans, "restart_with_huge_pages", lambda: restarts.append(1))
    assert minitrans.cli.main(["lesson", "list"]) == 0
    assert restarts == []  # called from Python (the tests, a notebook): restarting would run the caller again
    monkeypatch.setattr(sys, "argv", ["minitrans", "lesson", "list"])
    assert minitrans.cli.main() == 0
    assert restarts == [1]  # the console script calls main() with no arguments
