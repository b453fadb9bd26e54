#!/usr/bin/env python3
"""Heap snapshot benchmark: openprofiling against a plain CDP client in Node, side by side.

One Node process holds about HEAP_MB of heap. After one warm-up snapshot (not counted), it is
snapshotted in turn (who goes first alternates each round) by the agent
(`openprofiling snapshot --ws URL --no-gc --no-progress`) and by peer.js (the `ws` package
writing chunks to a file; like the agent, it asks for no GC and no progress reports), ROUNDS
times each, then once in process with v8.writeHeapSnapshot(). For each run: wall time, CPU
seconds and peak RSS of the snapshotting process (from wait4), the target's peak RSS during
the run (VmHWM, reset before each run through /proc/PID/clear_refs), file size.

    python3 benches/heapsnapshot/run.py [--heap-mb 100] [--rounds 4] [--s3]

Builds the release CLI and installs `ws` (npm) first. Prints a table and the ratios.
With --s3 it compares the agent writing to a directory and uploading to S3 instead (SeaweedFS,
started with scripts/test-servers.py, on this machine), alternately: wall S3/file and the
agent's peak RSS during the upload.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_wait4(argv, env=None):
    """Runs argv and reaps it with wait4: (wall s, cpu s, peak RSS MiB, stdout)."""
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    started = time.monotonic()
    pid = os.posix_spawnp(argv[0], argv, env or os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
        (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
    ])
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    out.seek(0)
    err.seek(0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv[:3])} failed: {err.read().strip()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


def target_peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--heap-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--s3", action="store_true",
                        help="compare a directory with an S3 upload instead of the Node peer")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "openprofiling-cli"],
                   cwd=ROOT, check=True)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "ws")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"],
                       cwd=HERE, check=True)
    cli = os.path.join(ROOT, "target", "release", "openprofiling")

    target = subprocess.Popen(
        ["node", "--inspect=127.0.0.1:0", os.path.join(HERE, "target.js"), str(args.heap_mb)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in target.stderr:
            match = re.match(r"Debugger listening on (ws://\S+)", line)
            if match:
                url = match.group(1)
                break
        ready = target.stdout.readline().strip()
        print(f"target: {ready}; inspector {url}")
        work = tempfile.mkdtemp(prefix="openprofiling-bench-")
        # The first snapshot of a fresh process takes about a second longer than the next
        # ones, whoever takes it (seen in every run: the first row was the slowest of its
        # kind); one snapshot by the peer, not counted, so that no counted run pays it.
        warm_up = os.path.join(work, "warm-up.heapsnapshot")
        wall, _, _, _ = run_wait4(["node", os.path.join(HERE, "peer.js"), "snapshot", url, warm_up])
        os.remove(warm_up)
        print(f"warm-up snapshot (peer, not counted): {wall:.2f} s")
        if args.s3:
            try:
                compare_s3(cli, url, args.rounds, work)
            finally:
                shutil.rmtree(work)
            return
        rows = []
        for round_ in range(args.rounds):
            # Alternate who goes first: consecutive snapshots of one process are not equal.
            order = ("agent", "peer") if round_ % 2 == 0 else ("peer", "agent")
            for who in order:
                reset_peak_rss(target.pid)
                if who == "agent":
                    out_dir = os.path.join(work, f"agent-{round_}")
                    # --no-progress: the peer asks V8 for no progress reports either, which
                    # spares V8 a pass over the heap; both clients then get the same work.
                    wall, cpu, rss, _ = run_wait4(
                        [cli, "snapshot", "--ws", url, "--no-gc", "--no-progress", "--to", out_dir])
                    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
                else:
                    out = os.path.join(work, f"peer-{round_}.heapsnapshot")
                    wall, cpu, rss, _ = run_wait4(["node", os.path.join(HERE, "peer.js"),
                                                   "snapshot", url, out])
                    size = os.path.getsize(out)
                rows.append((who, wall, cpu, rss, target_peak_rss_mib(target.pid), size))
        reset_peak_rss(target.pid)
        out = os.path.join(work, "inprocess.heapsnapshot")
        _, _, _, stdout = run_wait4(["node", os.path.join(HERE, "peer.js"), "inprocess", url, out])
        inprocess_s = float(stdout.split()[1]) / 1000
        rows.append(("v8.writeHeapSnapshot", inprocess_s, float("nan"), float("nan"),
                     target_peak_rss_mib(target.pid), os.path.getsize(out)))
        shutil.rmtree(work)
    finally:
        target.kill()
        target.wait()

    print(f"{'who':<22}{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}{'target RSS MiB':>16}{'file MB':>9}")
    for who, wall, cpu, rss, target_rss, size in rows:
        print(f"{who:<22}{wall:>8.2f}{cpu:>8.2f}{rss:>9.1f}{target_rss:>16.0f}{size / 1e6:>9.1f}")
    agent = [r for r in rows if r[0] == "agent"]
    peer = [r for r in rows if r[0] == "peer"]
    mean = lambda values: sum(values) / len(values)
    print(f"wall agent/peer: {mean([r[1] for r in agent]) / mean([r[1] for r in peer]):.3f} (goal <= 1.05)")
    print(f"CPU agent/peer: {100 * mean([r[2] for r in agent]) / mean([r[2] for r in peer]):.1f} % (goal <= 10 %)")
    print(f"agent peak RSS: {max(r[3] for r in agent):.1f} MiB (goal <= 32)")


def compare_s3(cli, url, rounds, work):
    """The agent to a directory and to S3, alternately."""
    servers = os.path.join(ROOT, "scripts", "test-servers.py")
    subprocess.run([sys.executable, servers, "start"], check=True)
    try:
        env = dict(os.environ)
        with open(os.path.join(ROOT, "target", "test-servers", "env")) as lines:
            for line in lines:
                key, _, value = line.strip().partition("=")
                if key:
                    env[key] = value
        bucket_url = env["OPENPROFILING_TEST_S3_URL"] + "bench/"
        rows = []
        for round_ in range(rounds):
            order = ("file", "s3") if round_ % 2 == 0 else ("s3", "file")
            for where in order:
                destination = os.path.join(work, f"file-{round_}") if where == "file" else bucket_url
                wall, cpu, rss, stdout = run_wait4(
                    [cli, "snapshot", "--ws", url, "--no-gc", "--to", destination], env)
                rows.append((where, wall, cpu, rss, stdout.strip()))
    finally:
        subprocess.run([sys.executable, servers, "stop"], check=True)
    print(f"{'to':<6}{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}  result")
    for where, wall, cpu, rss, result in rows:
        print(f"{where:<6}{wall:>8.2f}{cpu:>8.2f}{rss:>9.1f}  {result[:90]}")
    mean = lambda values: sum(values) / len(values)
    s3 = [r for r in rows if r[0] == "s3"]
    files = [r for r in rows if r[0] == "file"]
    print(f"wall S3/file: {mean([r[1] for r in s3]) / mean([r[1] for r in files]):.3f} (goal <= 1.1)")
    print(f"agent peak RSS during S3 upload: {max(r[3] for r in s3):.1f} MiB (goal <= 64)")


if __name__ == "__main__":
    main()
