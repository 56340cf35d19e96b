"""FlatIndex under concurrency and crashes: nothing lost, nothing mixed (docs/guarantees.md).

- adds beside searches: every search sees whole adds, its ids name the rows it scored;
- saves from many threads and processes to one directory: one whole index, the others refused;
- a save killed (SIGKILL) before any of its file operations: the old index or the new one loads.

The kill and pause points are found from outside the library, with an audit hook
(``sys.addaudithook``) in a child process that sees every file ``open`` for writing,
rename and remove the save makes, so the tests hold for any implementation of save.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import quantlib as ql

GOLDEN_V2 = Path(__file__).parent / "golden" / "formats" / "index-v2"
HEADER = "quantlib-index.json"


def _state(index: ql.FlatIndex) -> tuple:
    rescore = index._array("rescore")
    return (index.codes.tobytes(), index.ids.tobytes(), None if rescore is None else rescore.tobytes())


def _listing_is_clean(root: Path) -> bool:
    """The directory holds the header and the files it names, nothing else."""
    header = json.loads((root / HEADER).read_text())
    named = {e["file"] for e in header["arrays"].values()}
    return {p.name for p in root.iterdir()} == named | {HEADER}


# --------------------------------------------------------------------------- 1. adds beside searches


@pytest.fixture
def busy_switching():
    """Switch threads every microsecond (Python's default is 5 ms), so races show within seconds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.parametrize("fmt,rescore", [("float32", None), ("ubinary", "float32")])
def test_adds_beside_searches_lose_and_mix_nothing(fmt, rescore, busy_switching):
    # issue 22.1: add() appended to the pending rows while a search joined and emptied them, so
    # rows were lost for good (codes 13,500 rows, ids 14,000), ids named the wrong rows, and
    # rescoring raised IndexError. Now each search sees whole adds and its ids are its rows'.
    rng = np.random.default_rng(22)
    d, first, batch, batches = 32, 2000, 50, 40
    x = rng.standard_normal((first + batch * batches, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    deadline = time.monotonic() + 4.0
    trials = 0
    while trials < 3 or (trials < 100 and time.monotonic() < deadline):
        trials += 1
        index = ql.FlatIndex(fmt, d, metric="cosine", rescore=rescore)
        index.add(x[:first])
        done = threading.Event()
        errors: list[BaseException] = []
        seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        def searcher(seed: int, index=index, done=done, errors=errors, seen=seen) -> None:
            r = np.random.default_rng(seed)
            try:
                while not done.is_set():
                    n = len(index)
                    q_rows = r.integers(0, n, 3)
                    scores, got = index.search(x[q_rows], k=4, oversample=8)
                    seen.append((q_rows, scores, got))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=searcher, args=(trials * 10 + i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            for b in range(batches):
                lo = first + batch * b
                index.add(x[lo:lo + batch])  # default ids: the row numbers
        finally:
            done.set()
            for t in threads:
                t.join()
        assert not errors, errors[0]
        n = len(x)
        assert len(index) == n and index.codes.shape[0] == n and index.ids.tolist() == list(range(n))
        if rescore:
            assert index._array("rescore").shape[0] == n
        # every id found names the vector that was scored: the score is that vector's
        exact = index.search(x[:5], k=1, oversample=1)
        assert exact[1][:, 0].tolist() == [0, 1, 2, 3, 4]
        for q_rows, scores, got in seen:
            want = np.einsum("qd,qkd->qk", x[q_rows], x[got])
            if fmt == "float32" or rescore:
                np.testing.assert_allclose(scores, want, atol=2e-5)
            # a query's own row is in the index when it searches, and ranks first
            assert (got[:, 0] == q_rows).all(), (q_rows, got)
    assert trials >= 3


def test_concurrent_adds_keep_ids_unique_and_rows_with_their_ids(busy_switching):
    rng = np.random.default_rng(8)
    d = 16
    x = rng.standard_normal((4 * 10 * 50, d)).astype(np.float32)
    deadline = time.monotonic() + 2.0
    trial = 0
    while trial < 3 or (trial < 100 and time.monotonic() < deadline):
        trial += 1
        index = ql.FlatIndex("float32", d, metric="dot")
        auto = ql.FlatIndex("float32", d, metric="dot")
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def adder(t: int, index=index, auto=auto, barrier=barrier, errors=errors) -> None:
            try:
                barrier.wait()
                for b in range(10):
                    lo = (t * 10 + b) * 50
                    index.add(x[lo:lo + 50], ids=np.arange(lo, lo + 50))
                    auto.add(x[lo:lo + 50])  # default ids: taken under the lock that checks them
                    index.search(x[lo:lo + 2], k=1)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=adder, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, (trial, errors[0])
        assert len(auto) == len(x) and sorted(auto.ids.tolist()) == list(range(len(x))), trial
    assert len(index) == len(x) and np.array_equal(index.codes[np.argsort(index.ids)], x)
    assert sorted(auto.ids.tolist()) == list(range(len(x)))
    # default ids were given batch by batch: each batch's rows got 50 consecutive ids, in order
    id_of = {row.tobytes(): i for row, i in zip(auto.codes, auto.ids.tolist(), strict=True)}
    for lo in range(0, len(x), 50):
        got = [id_of[row.tobytes()] for row in x[lo:lo + 50]]
        assert got == list(range(got[0], got[0] + 50)) and got[0] % 50 == 0, (lo, got[:3])


# --------------------------------------------------------------------------- 2. concurrent saves


def _indexes(count: int) -> list[ql.FlatIndex]:
    """``count`` different int8 indexes with float16 rescoring rows and ids of their own."""
    rng = np.random.default_rng(2)
    out = []
    for i in range(count):
        x = rng.standard_normal((200 + 50 * i, 12)).astype(np.float32)
        index = ql.FlatIndex(ql.ScalarCodec("int8", [[-3.0] * 12, [3.0] * 12]), 12, rescore="float16")
        index.add(x, ids=np.arange(len(x)) + 10_000 * i)
        out.append(index)
    return out


def test_concurrent_saves_and_loads_in_threads_give_one_whole_index(tmp_path):
    # issue 22.2: saves shared fixed temp names and read checksums back from files the other writer
    # could overwrite: a bare FileNotFoundError, or a directory pairing one index's codes with the
    # other's ids that still passed load(verify=True)
    indexes = _indexes(3)
    states = [_state(ix) for ix in indexes]
    root = tmp_path / "idx"
    indexes[0].save(root)
    stop = threading.Event()
    problems: list[str] = []
    counts = {"saved": 0, "refused": 0, "loaded": 0}
    guard = threading.Lock()

    def saver(i: int) -> None:
        for _ in range(25):
            try:
                indexes[i].save(root)
                key = "saved"
            except ql.ConfigError as exc:
                if "another save" not in str(exc):
                    problems.append(f"save: {exc!r}")
                key = "refused"
            except BaseException as exc:  # noqa: BLE001
                problems.append(f"save: {exc!r}")
                return
            with guard:
                counts[key] += 1

    def loader(verify: bool) -> None:
        while not stop.is_set():
            try:
                state = _state(ql.FlatIndex.load(root, verify=verify))
            except BaseException as exc:  # noqa: BLE001
                problems.append(f"load: {exc!r}")
                return
            if state not in states:
                problems.append("load: a mixed index")
                return
            with guard:
                counts["loaded"] += 1

    savers = [threading.Thread(target=saver, args=(i,)) for i in range(3)]
    loaders = [threading.Thread(target=loader, args=(v,)) for v in (True, False)]
    for t in loaders + savers:
        t.start()
    for t in savers:
        t.join()
    stop.set()
    for t in loaders:
        t.join()
    assert not problems, problems[:3]
    assert counts["saved"] + counts["refused"] == 75 and counts["saved"] >= 1 and counts["loaded"] >= 1
    assert _state(ql.FlatIndex.load(root)) in states
    assert _listing_is_clean(root)


_CHILD = textwrap.dedent("""
    import json, os, shutil, signal, sys, time
    import numpy as np
    import quantlib as ql

    mode, source, targets, out_file = sys.argv[1], sys.argv[2], sys.argv[3:-1], sys.argv[-1]
    new = ql.FlatIndex.load(source, mmap=False)

    def to_save(target):
        if not target.endswith("-self"):
            return new
        # the index memory-mapped from the very files the save replaces, grown by the new rows
        own = ql.FlatIndex.load(target)
        own.add(np.asarray(new.codes), ids=new.ids + 1_000_000, rescore=np.asarray(new._array("rescore")))
        return own

    def counting_hook(at, action, log=None):
        # the file operations that change a directory: opening for writing, renames, removals
        seen = [0]

        def hook(event, args):
            if event == "open":
                mode, flags = args[1], args[2]
                writes = (mode is not None and any(c in mode for c in "wxa+")) or (
                    mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
                if not writes:
                    return
            elif event not in ("os.rename", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree"):
                return
            seen[0] += 1
            if log is not None:
                log.append(f"{event} {args[0]}")
            if seen[0] == at:
                action()

        return hook

    def forked(target, hook):
        # save into target in a forked process with hook installed; its wait status
        pid = os.fork()
        if pid == 0:
            index = to_save(target)
            sys.addaudithook(hook)
            index.save(target)
            os._exit(0)
        return os.waitpid(pid, 0)[1]

    if mode == "kill":
        # targets: (template, work folder) pairs. For each: count the file operations of a whole
        # save, then, in one forked process per operation n, save and get killed just before it
        report = []
        for template, work in zip(targets[::2], targets[1::2]):
            log = []
            suffix = "-self" if work.endswith("-self") else ""
            probe = os.path.join(work, "probe" + suffix)
            shutil.copytree(template, probe)
            if suffix:  # load the kernels add() calls here once, not in every forked process
                shutil.copytree(template, os.path.join(work, "warm-self"))
                to_save(os.path.join(work, "warm-self"))
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                index = to_save(probe)
                sys.addaudithook(counting_hook(0, None, log))
                index.save(probe)
                os.write(w, str(len(log)).encode())
                os._exit(0)
            os.close(w)
            count = int(os.read(r, 100))
            os.waitpid(pid, 0)
            for n in range(1, count + 2):  # the last save completes
                target = os.path.join(work, f"kill-{n}{suffix}")
                shutil.copytree(template, target)
                status = forked(target, counting_hook(n, lambda: os.kill(os.getpid(), signal.SIGKILL)))
                report.append([work, count, n, target, os.WIFSIGNALED(status)])
        with open(out_file, "w") as f:
            json.dump(report, f)
    elif mode == "pause":
        # stop before the save's first file operation, and go on once the parent says so
        flag, go = targets[1], targets[2]

        def pause():
            with open(flag, "x"):
                pass
            t = time.monotonic()
            while not os.path.exists(go) and time.monotonic() - t < 30:
                time.sleep(0.01)

        sys.addaudithook(counting_hook(1, pause))
        new.save(targets[0])
""")


def _child(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(ql.__file__).parent.parent), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def _source(tmp_path: Path) -> tuple[Path, tuple]:
    """A saved index unlike the golden one (more rows, other ids and values), and its state."""
    x = np.random.default_rng(5).standard_normal((40, 12)).astype(np.float32)
    index = ql.FlatIndex(ql.ScalarCodec("int8", [[-1.0] * 12, [1.0] * 12]), 12, metric="cosine",
                         rescore="float16")
    index.add(x, ids=np.arange(40) + 500)
    index.save(tmp_path / "source")
    return tmp_path / "source", _state(index)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill points run in forked processes (POSIX only)")
def test_concurrent_save_from_another_process_is_refused(tmp_path):
    # a process that holds the directory's save lock (paused before its first write) makes a save
    # from this process fail with a quantlib error and write nothing; then it finishes whole
    source, new = _source(tmp_path)
    root = tmp_path / "idx"
    shutil.copytree(GOLDEN_V2, root)
    mine = _indexes(1)[0]
    flag, go = tmp_path / "paused", tmp_path / "go"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(ql.__file__).parent.parent), env.get("PYTHONPATH", "")])
    child = subprocess.Popen([sys.executable, str(script), "pause", str(source), str(root), str(flag), str(go),
                              str(tmp_path / "events")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        t = time.monotonic()
        while not flag.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() - t < 60
            time.sleep(0.01)
        before = sorted(p.name for p in root.iterdir())
        with pytest.raises(ql.ConfigError, match="another save to .* is under way"):
            mine.save(root)
        assert sorted(p.name for p in root.iterdir()) == before  # wrote nothing
    finally:
        go.touch()
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, (out, err)
    assert _state(ql.FlatIndex.load(root)) == new and _listing_is_clean(root)
    mine.save(root)  # the lock went with the child
    assert _state(ql.FlatIndex.load(root)) == _state(mine)


# --------------------------------------------------------------------------- 3. killed saves


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill points run in forked processes (POSIX only)")
def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_index(tmp_path):
    # issue 22.3: an interrupted save over an index could leave no header at all: the old index lost.
    # Kill a save just before each of its file operations (SIGKILL: no cleanup runs), over an index of
    # the previous layout (golden version 2) and over one of the current layout memory-mapped by the
    # saving process itself; then the directory must load as the old or the new index, and a later
    # save into it must work and leave no stray files.
    source, new = _source(tmp_path)
    old_v2 = _state(ql.FlatIndex.load(GOLDEN_V2))
    current = tmp_path / "current"
    shutil.copytree(GOLDEN_V2, current)
    ql.FlatIndex.load(GOLDEN_V2, mmap=False).save(current)  # the same index in the current layout
    old_self = _state(ql.FlatIndex.load(current))
    grown = ql.FlatIndex.load(current, mmap=False)
    newer = ql.FlatIndex.load(source, mmap=False)
    grown.add(np.asarray(newer.codes), ids=newer.ids + 1_000_000, rescore=np.asarray(newer._array("rescore")))
    new_self = _state(grown)

    cases = {"v2": (GOLDEN_V2, old_v2, new), "self": (current, old_self, new_self)}
    args = []
    for name, (template, _, _) in cases.items():
        work = tmp_path / (name + ("-self" if name == "self" else ""))
        work.mkdir()
        args += [str(template), str(work)]
    done = _child(tmp_path, "kill", str(source), *args, str(tmp_path / "kills.json"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "kills.json").read_text())
    for name, (_, old, want) in cases.items():
        runs = [r for r in report if Path(r[0]).name.startswith(name)]
        assert len(runs) >= 5, runs  # at least: three arrays, the header, its commit
        outcomes = []
        for _, count, n, target, killed in runs:
            target = Path(target)
            assert killed == (n <= count), (name, n, count)
            try:
                got = _state(ql.FlatIndex.load(target))
            except (ql.QuantlibError, OSError) as exc:
                pytest.fail(f"{name}: killed before file operation {n}: neither index loads ({exc!r})")
            assert got in (old, want), f"{name}: killed before file operation {n}: a mixed index"
            outcomes.append("new" if got == want else "old")
            if not killed:
                assert got == want
            # what the killed save left does not stand in the way of the next save, which removes it
            newer.save(target)
            assert _state(ql.FlatIndex.load(target)) == _state(newer)
            assert _listing_is_clean(target), sorted(p.name for p in target.iterdir())
        # old until the commit, new from then on
        assert outcomes == sorted(outcomes, key=lambda o: o == "new") and outcomes[0] == "old", outcomes
