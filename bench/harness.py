#!/usr/bin/env python3
"""gljob's benchmark (GitLab issue 6). Started by bench/run.sh, which builds the binaries and
the python-gitlab virtualenv and passes their paths in the environment; run that, not this.

For each server mode (local, object storage, bandwidth-limited) and each workload (mixed,
many-small, one-big), the tools run in turn, A B C A B C ..., each as one whole process under
/usr/bin/time: gljob fetch, curl + unzip, python-gitlab + zipfile (and curl + 7z with
--with-7z), plus the references "download alone" (curl -o /dev/null) and, in the
bandwidth-limited mode, "extraction alone" (unzip of the archive already on disk). Every
extraction is checked (file count and bytes) before it counts. Then gljob's --path and --list
probes on one-big, and the GET /job round trip (hyperfine). The result is a Markdown report.

Standard library only: it runs on the system python3.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GiB = 1 << 30
MiB = 1 << 20
KiB = 1 << 10
TIMEOUT = 1800  # seconds for one measured run
RECENT_SECONDS = 420  # see Bench.wait_for_freed_inodes
BIG_REMOVAL = 10_000  # inodes

MODES = {
    "local": "archives served by the API origin",
    "object-storage": "the API answers 302 to a presigned URL on a second origin (object storage)",
    "throttled": "as local, but archive bodies paced to {rate} (all connections together), standing in for a real network",
}
MODE_TITLES = {"local": "local", "object-storage": "object storage", "throttled": "bandwidth-limited"}
WORKLOADS = ["mixed", "many-small", "one-big"]

# Download with curl the way a careful job does: the token only to GitLab. curl sends -H
# headers on to every redirect target, so the 302 to object storage is followed by hand; with
# local storage the first call already has the archive. $1 URL, $2 output file.
CURL_GET = (
    'loc=$(curl -sSf -o "$2" -w "%{redirect_url}" -H "JOB-TOKEN: $CI_JOB_TOKEN" "$1")'
    ' && { [ -z "$loc" ] || curl -sSf -o "$2" "$loc"; }'
)


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


class FakeGitLab:
    """bench_server serve: the fake GitLab serving the workloads, with its byte counter."""

    def __init__(self, binary, workdir, workloads_dir, mode, throttle):
        cmd = [binary, "serve", "--dir", workloads_dir]
        if mode == "object-storage":
            cmd.append("--object-storage")
        if mode == "throttled":
            cmd += ["--throttle", str(throttle)]
        self.stderr = open(os.path.join(workdir, f"server-{mode}.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.env = {}
        for line in self.proc.stdout:
            line = line.strip()
            if line == "READY":
                break
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                self.env[key] = value
        else:
            raise SystemExit(f"bench_server did not start (see {self.stderr.name})")
        self.control = int(self.env["BENCH_CONTROL_PORT"])

    def counters(self):
        with socket.create_connection(("127.0.0.1", self.control), timeout=10) as s:
            return json.loads(s.makefile().readline())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def tree_stats(path):
    """Regular files and their total size under path (symlinks not followed)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            if not os.path.islink(os.path.join(dirpath, n)):
                files += 1
                size += st.st_size
    return files, size


class Bench:
    def __init__(self, args):
        self.args = args
        self.gljob = os.environ.get("GLJOB_BIN", "gljob")
        self.server_bin = os.environ.get("BENCH_SERVER_BIN", "bench_server")
        self.python = os.environ.get("BENCH_PYTHON", "python3")
        self.ripunzip = os.environ.get("RIPUNZIP_BIN") or shutil.which("ripunzip")
        self.work = os.environ.get("BENCH_WORK", "/tmp/gljob-bench")
        self.workloads_dir = os.path.join(self.work, "workloads-quick" if args.quick else "workloads-full")
        self.scratch = os.path.join(self.work, "scratch")
        self.scratch_n = 0
        self.kept_inodes = 0  # in the trees under scratch, by the manifest
        self.rendered_from = None
        self.samples = []
        self.probes = []
        self.loads = {}
        self.job_rows = []
        self.job_tool = None
        self.failures = []
        self.info = {}
        # The tools see no proxy settings: everything here is on 127.0.0.1.
        self.base_env = {
            k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("CI_")
        }

    # ---------------------------------------------------------------- commands

    def tools(self, mode, workload):
        """The rows of a table, in order. "floor" is not run: each round it is the largest of
        that round's download alone, floor: create and floor: inflate (see Method)."""
        tools = ["gljob", "curl + unzip", "python-gitlab"]
        if self.ripunzip:
            tools += ["curl + ripunzip", "ripunzip unzip-uri"]
        if self.args.with_7z:
            tools.append("curl + 7z")
        tools.append("download alone")
        if mode == "throttled":
            tools.append("extraction alone")
        tools += ["floor: create", "floor: inflate", "floor"]
        return tools

    def command(self, tool, workload, env, dest, archive):
        url = f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/jobs/artifacts/{env['BENCH_REF']}/download?job={workload}"
        sh = lambda script, *a: ["sh", "-c", script, "sh", *a]  # noqa: E731
        if tool == "gljob":
            return [self.gljob, "fetch", "--project", env["CI_PROJECT_ID"], "--ref", env["BENCH_REF"],
                    "--job", workload, "--dest", dest, "--quiet"]
        if tool == "curl + unzip":
            return sh(CURL_GET + ' && unzip -q "$2" -d "$3" && rm -f "$2"', url, archive, dest)
        if tool == "curl + ripunzip":
            return sh(CURL_GET + ' && "$4" unzip-file -q "$2" -d "$3" && rm -f "$2"', url, archive, dest, self.ripunzip)
        if tool == "ripunzip unzip-uri":
            # It cannot send headers: the token goes in GitLab's job_token query parameter.
            return [self.ripunzip, "unzip-uri", "-q", "-d", dest, f"{url}&job_token={env['CI_JOB_TOKEN']}"]
        if tool.startswith("floor: "):
            zip_path = os.path.join(self.workloads_dir, self.manifest["workloads"][workload]["zip"])
            what = tool.split(": ")[1]
            return [self.server_bin, "floor", what, zip_path, *([dest] if what == "create" else [])]
        if tool == "curl + 7z":
            return sh(CURL_GET + ' && 7z x -y -bd -bso0 -bsp0 -o"$3" "$2" && rm -f "$2"', url, archive, dest)
        if tool == "python-gitlab":
            return [self.python, os.path.join(ROOT, "bench", "pygitlab.py"), "fetch",
                    env["CI_PROJECT_ID"], env["BENCH_REF"], workload, dest]
        if tool == "download alone":
            return sh(CURL_GET, url, "/dev/null")
        if tool == "extraction alone":
            zip_path = os.path.join(self.workloads_dir, self.manifest["workloads"][workload]["zip"])
            return ["unzip", "-q", zip_path, "-d", dest]
        raise ValueError(tool)

    # ---------------------------------------------------------------- one measurement

    def fresh_scratch(self):
        """A new, empty directory for one measurement.

        Trees with many files are not deleted between measurements but kept until the end of
        the run (`discard_scratch`): on ext4 without a journal (this benchmark's first machine),
        the inode allocator skips inodes deleted in the last minutes, one cached-block lookup
        each, so creating 100,000 files right after deleting 100,000 cost 10-20x more kernel
        time (perf: `recently_deleted` under `ext4_create`) and made every sample depend on what
        the previous one left behind. This measures the case without a big deletion just before;
        with one (a reused build directory's `git clean`), every tool would pay the same cost."""
        self.scratch_n += 1
        path = os.path.join(self.scratch, str(self.scratch_n))
        os.makedirs(path)
        return path

    def scratch_bytes(self):
        """Disk the run needs at its fullest: every tree kept until the end (4 KiB per file and
        directory, at least), plus one sample of a few-file workload (archive and tree, twice:
        they are deleted right after, and a download may still be on disk)."""
        kept, passing = 0, 0
        for mode in self.args.modes:
            for workload in self.args.workloads:
                w = self.manifest["workloads"][workload]
                if w["files"] >= 1000:
                    trees = len([t for t in self.tools(mode, workload) if t != "download alone"])
                    kept += self.args.runs * trees * (w["raw_bytes"] + (w["files"] + w["dirs"]) * 4096)
                else:
                    passing = max(passing, 2 * (w["raw_bytes"] + w["zip_bytes"]))
        return kept + passing

    def discard_scratch(self):
        """Removes the extracted trees, noting when and about how many inodes that freed: the
        kept trees' files and directories by the manifest, or — for what an interrupted run left,
        whose size is unknown — a big removal."""
        if not os.path.isdir(self.scratch):
            return
        freed = self.kept_inodes or BIG_REMOVAL
        self.kept_inodes = 0
        log(f"removing the extracted trees in {self.scratch} (about {freed} files and directories)")
        shutil.rmtree(self.scratch, ignore_errors=True)
        os.sync()
        # A small removal must not hide a big one still inside the window.
        if freed >= BIG_REMOVAL:
            with open(os.path.join(self.work, "scratch-removed.json"), "w") as f:
                json.dump({"time": time.time(), "freed": freed}, f)

    def wait_for_freed_inodes(self):
        """Waits until the inodes the last removal freed are no longer "recently deleted".

        Measured on this machine after removing 200,000 files: creating a file cost 580 us of
        system time 5 s later, 330 us after 80 s, 200 us after 130 s and 53 us (normal) after
        200 s; after removing 3.7 million, still slow after 5 min 20 s. ext4's ialloc.c counts an
        inode as recent for 60 s, 360 s while its inode-table block is dirty (RECENTCY_MIN +
        RECENTCY_DIRTY). The wait is RECENT_SECONDS after a removal of BIG_REMOVAL inodes or more."""
        try:
            with open(os.path.join(self.work, "scratch-removed.json")) as f:
                last = json.load(f)
        except (OSError, ValueError):
            return
        wait = last["time"] + RECENT_SECONDS - time.time()
        if last["freed"] >= BIG_REMOVAL and wait > 0:
            log(f"waiting {wait:.0f} s: {last['freed']} inodes were freed {time.time() - last['time']:.0f} s ago, "
                "and creating files next to recently freed inodes is slow on ext4 without a journal")
            time.sleep(wait)

    def measure(self, server, mode, workload, tool, argv, run, check, scratch):
        """Runs argv once under /usr/bin/time in `scratch`; records a sample."""
        timefile = os.path.join(self.work, "time.out")
        errfile = os.path.join(self.work, "stderr.out")
        outfile = os.path.join(self.work, "stdout.out")
        env = dict(self.base_env, **{k: v for k, v in server.env.items() if k.startswith("CI_")})
        before = server.counters()
        if os.path.exists(timefile):
            os.remove(timefile)
        disk = lambda: (lambda v: (v.f_blocks - v.f_bfree) * v.f_frsize)(os.statvfs(scratch))  # noqa: E731
        disk_before = disk_peak = disk()
        with open(errfile, "w") as err, open(outfile, "w") as out:
            t0 = time.perf_counter()
            proc = subprocess.Popen(["/usr/bin/time", "-f", "%U %S %M %O", "-o", timefile, *argv],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=scratch)
            # The filesystem's use, sampled while the tool runs: the peak disk a fetch needs.
            while True:
                try:
                    returncode = proc.wait(timeout=0.01)
                    break
                except subprocess.TimeoutExpired:
                    disk_peak = max(disk_peak, disk())
                    if time.perf_counter() - t0 > TIMEOUT:
                        proc.kill()
                        proc.wait()
                        returncode = "timeout"
                        break
            wall = time.perf_counter() - t0
            disk_peak = max(disk_peak, disk())  # what is left: the tree
        if tool.startswith("floor: "):
            # The timed part only, as the floor program measured it.
            with open(outfile) as f:
                wall = next((float(line[8:]) for line in f if line.startswith("seconds=")), wall)
        after = server.counters()
        try:
            with open(timefile) as f:
                user, sys_, rss, outputs = f.read().strip().splitlines()[-1].split()
        except (OSError, ValueError, IndexError):
            user, sys_, rss, outputs = 0, 0, 0, 0
        sample = {
            "mode": mode, "workload": workload, "tool": tool, "run": run,
            "wall": wall, "cpu": float(user) + float(sys_), "rss_kib": int(rss),
            # Bytes the kernel counted as written by the process tree (dirtied pages, 512-byte
            # units of GNU time's %O; deleted files' too), and the filesystem's peak growth.
            "written": int(outputs) * 512, "disk_peak": max(0, disk_peak - disk_before),
            "bytes": after["bytes_sent"] - before["bytes_sent"],
            "requests": after["requests"] - before["requests"],
            "storage_requests": after["storage_requests"] - before["storage_requests"],
            "exit": returncode, "ok": returncode == 0, "note": "",
        }
        if sample["ok"] and check:
            sample["note"] = check()
            sample["ok"] = not sample["note"]
        if not sample["ok"]:
            with open(errfile) as f:
                tail = f.read()[-600:]
            why = sample["note"] or f"exit {returncode}"
            self.failures.append(f"{MODE_TITLES[mode]} / {workload} / {tool} run {run}: {why}\n{tail}")
            log(f"  FAILED {tool}: {why} {tail.strip()[-300:]}")
        # Few files: deleting them now frees few inodes (see fresh_scratch) and a lot of disk.
        w = self.manifest["workloads"][workload]
        if w["files"] < 1000:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            self.kept_inodes += w["files"] + w["dirs"]
        os.sync()
        return sample

    def check_tree(self, workload, dest):
        want = self.manifest["workloads"][workload]

        def check():
            files, size = tree_stats(dest)
            if (files, size) != (want["files"], want["raw_bytes"]):
                return f"extracted {files} files / {size} bytes, want {want['files']} / {want['raw_bytes']}"
            return ""
        return check

    # ---------------------------------------------------------------- the run

    # State saved after a run, from which --report-from writes the report again.
    STATE = ["started", "elapsed", "info", "loads", "manifest", "samples", "probes", "job_rows", "job_tool",
             "failures"]
    ARGS = ["quick", "runs", "modes", "workloads", "throttle", "with_7z"]

    def save(self, path):
        state = {k: getattr(self, k) for k in self.STATE}
        state["args"] = {k: getattr(self.args, k) for k in self.ARGS}
        with open(path, "w") as f:
            json.dump(state, f, indent=1)

    def load(self, path):
        with open(path) as f:
            state = json.load(f)
        for k in self.STATE:
            setattr(self, k, state[k])
        for k in self.ARGS:
            setattr(self.args, k, state["args"][k])

    def run(self):
        a = self.args
        self.started = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
        self.info = {
            "command": shlex.join(["bench/run.sh", *sys.argv[1:]]),
            "machine": f"{cpu_model()}, {os.cpu_count()} cores, {mem_total()}, Linux {platform.release()}",
            "versions": f"`{version([self.gljob, '--version'])}` ({git_rev()}); {version(['curl', '--version'], 2)}; "
                        f"{version(['unzip', '-v'], 2)}; Python {version([self.python, '--version']).split()[-1]} with "
                        f"python-gitlab {version([self.python, '-c', 'import gitlab; print(gitlab.__version__)'])}"
                        + (f"; {version([self.ripunzip, '--version'])}" if self.ripunzip else "")
                        + (f"; {version(['7z', 'i'], 3)}" if a.with_7z else ""),
        }
        log(f"workloads in {self.workloads_dir}")
        subprocess.run([self.server_bin, "generate", "--dir", self.workloads_dir, *(["--quick"] if a.quick else [])],
                       check=True)
        with open(os.path.join(self.workloads_dir, "manifest.json")) as f:
            self.manifest = json.load(f)
        self.discard_scratch()  # what an interrupted run left
        need, free = self.scratch_bytes(), shutil.disk_usage(self.work).free
        if need > free:
            log(f"the extracted trees need about {need / GiB:.1f} GiB until the end of the run "
                f"(see fresh_scratch), {self.work} has {free / GiB:.1f} GiB free: "
                "use fewer --runs, --modes or --workloads, or another BENCH_WORK")
            return 3
        if not a.quick:  # its numbers say nothing about speed; it stays well under a minute
            self.wait_for_freed_inodes()
        t0 = time.monotonic()  # the run's time: not the checks and waits before it
        try:
            self.run_modes()
            self.elapsed = time.monotonic() - t0
        finally:
            self.discard_scratch()
        state = os.path.join(self.work, "samples-quick.json" if a.quick else "samples.json")
        self.save(state)
        self.write_report()
        log(f"done in {fmt_duration(self.elapsed)}; report: {a.output}; raw samples: {state}")
        if self.failures:
            log(f"{len(self.failures)} measurement(s) failed: see the report")
        return 1 if self.failures else 0

    def run_modes(self):
        a = self.args
        for mode in a.modes:
            server = FakeGitLab(self.server_bin, self.work, self.workloads_dir, mode, a.throttle)
            try:
                self.loads[mode] = [loadavg()]
                for workload in a.workloads:
                    self.run_workload(server, mode, workload)
                if "one-big" in a.workloads:
                    self.run_probes(server, mode)
                if mode == a.modes[0]:
                    self.run_job(server)
                self.loads[mode].append(loadavg())
            finally:
                server.stop()

    def write_report(self):
        with open(self.args.output, "w") as f:
            f.write(self.report())

    def run_workload(self, server, mode, workload):
        tools = self.tools(mode, workload)
        log(f"{MODE_TITLES[mode]} / {workload}: {', '.join(tools)} x {self.args.runs}")
        for run in range(1, self.args.runs + 1):
            for tool in tools:
                if tool == "floor":
                    self.samples.append(self.floor_sample(mode, workload, run))
                    continue
                scratch = self.fresh_scratch()
                dest = os.path.join(scratch, "dest")
                archive = os.path.join(scratch, "artifacts.zip")
                argv = self.command(tool, workload, server.env, dest, archive)
                check = None if tool in ("download alone", "floor: inflate") else self.check_tree(workload, dest)
                s = self.measure(server, mode, workload, tool, argv, run, check, scratch)
                self.samples.append(s)
                log(f"  run {run} {tool:16} {s['wall']:8.2f} s  cpu {s['cpu']:7.2f} s  rss {s['rss_kib'] / KiB:6.1f} MiB"
                    f"  {s['bytes'] / MiB:9.2f} MiB sent")

    def floor_sample(self, mode, workload, run):
        """The round's floor: the largest of its download alone, floor: create and floor: inflate."""
        parts = [s for s in self.samples if (s["mode"], s["workload"], s["run"]) == (mode, workload, run)
                 and s["tool"] in ("download alone", "floor: create", "floor: inflate")]
        ok = len(parts) == 3 and all(p["ok"] for p in parts)
        top = max(parts, key=lambda p: p["wall"]) if parts else None
        return {
            "mode": mode, "workload": workload, "tool": "floor", "run": run,
            "wall": top["wall"] if top else 0.0, "cpu": 0.0, "rss_kib": 0, "bytes": 0, "requests": 0,
            "storage_requests": 0, "written": 0, "disk_peak": 0, "exit": 0 if ok else 1, "ok": ok,
            "note": f"= {top['tool']}" if top else "",
        }

    def run_probes(self, server, mode):
        small = self.manifest["workloads"]["one-big"]["small_file"]
        env = server.env
        base = [self.gljob, "fetch", "--project", env["CI_PROJECT_ID"], "--ref", env["BENCH_REF"], "--job", "one-big"]

        def has_small(dest):
            path = os.path.join(dest, small)
            files, _ = tree_stats(dest)
            return "" if os.path.isfile(path) and files == 1 else f"want only {small} in the destination, found {files} files"
        for name, extra, check in [
            (f"gljob fetch --path {small}", ["--path", small, "--dest", "dest", "--quiet"], has_small),
            ("gljob fetch --list", ["--list"], None),
        ]:
            scratch = self.fresh_scratch()
            dest = os.path.join(scratch, "dest")
            s = self.measure(server, mode, "one-big", name, base + extra, 1,
                             check and (lambda: check(dest)), scratch)
            self.probes.append(s)
            log(f"  probe {name}: {s['bytes'] / KiB:.1f} KiB sent, {s['wall']:.2f} s")

    def run_job(self, server):
        """GET /job: gljob job against curl (and python-gitlab), with hyperfine."""
        env = dict(self.base_env, **{k: v for k, v in server.env.items() if k.startswith("CI_")})
        url = f"{env['CI_API_V4_URL']}/job"
        commands = [
            ("curl", ["curl", "-sSf", "-o", "/dev/null", "-H", f"JOB-TOKEN: {env['CI_JOB_TOKEN']}", url]),
            ("gljob job", [self.gljob, "job"]),
            ("gljob job --json", [self.gljob, "job", "--json"]),
            ("python-gitlab", [self.python, os.path.join(ROOT, "bench", "pygitlab.py"), "job"]),
        ]
        quick = self.args.quick
        warmup, runs = (1, 5) if quick else (5, 50)
        log(f"GET /job: {', '.join(n for n, _ in commands)}")
        times = {}
        hyperfine = shutil.which("hyperfine")
        for name, argv in commands:
            try:
                if hyperfine:
                    out = os.path.join(self.work, "hyperfine.json")
                    subprocess.run([hyperfine, "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                                    "--export-json", out, shlex.join(argv)],
                                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    with open(out) as f:
                        times[name] = json.load(f)["results"][0]["times"]
                else:
                    for i in range(warmup + runs):
                        t0 = time.perf_counter()
                        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                        if i >= warmup:
                            times.setdefault(name, []).append(time.perf_counter() - t0)
                rss = []
                for _ in range(3 if quick else 5):
                    timefile = os.path.join(self.work, "time.out")
                    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", timefile, *argv], env=env, check=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    with open(timefile) as f:
                        rss.append(int(f.read().split()[-1]))
            except subprocess.CalledProcessError as e:
                why = (e.stderr or b"").decode(errors="replace").strip()[-300:]
                self.failures.append(f"GET /job / {name}: exit {e.returncode}\n{why}")
                log(f"  FAILED {name}: exit {e.returncode} {why}")
                continue
            t = times[name]
            self.job_rows.append({
                "name": name, "median": statistics.median(t), "mean": statistics.mean(t),
                "stdev": statistics.stdev(t) if len(t) > 1 else 0.0, "min": min(t), "max": max(t),
                "rss_kib": max(rss),
            })
        if hyperfine:
            v = subprocess.run([hyperfine, "--version"], capture_output=True, text=True).stdout.strip()
            self.job_tool = f"{v}, `-N` (no shell), {warmup} warm-up runs, {runs} runs"
        else:
            self.job_tool = f"the harness's own clock (hyperfine is not installed), {warmup} warm-up runs, {runs} runs"
        for r in self.job_rows:
            log(f"  {r['name']:18} median {r['median'] * 1000:7.1f} ms  rss {r['rss_kib'] / KiB:.1f} MiB")

    # ---------------------------------------------------------------- the report

    def rows(self, mode, workload):
        """Per tool, in tool order: the medians and ranges of its successful samples."""
        out = []
        for tool in self.tools(mode, workload):
            ss = [s for s in self.samples if (s["mode"], s["workload"], s["tool"]) == (mode, workload, tool)]
            ok = [s for s in ss if s["ok"]]
            row = {"tool": tool, "n": len(ss), "ok": len(ok)}
            if ok:
                walls = [s["wall"] for s in ok]
                row.update(
                    wall=statistics.median(walls), wall_min=min(walls), wall_max=max(walls),
                    cpu=statistics.median(s["cpu"] for s in ok), rss=max(s["rss_kib"] for s in ok),
                    bytes=statistics.median(s["bytes"] for s in ok),
                    bytes_range=(min(s["bytes"] for s in ok), max(s["bytes"] for s in ok)),
                    requests=statistics.median(s["requests"] for s in ok),
                    storage_requests=statistics.median(s["storage_requests"] for s in ok),
                    written=statistics.median(s.get("written", 0) for s in ok),
                    disk_peak=max(s.get("disk_peak", 0) for s in ok),
                )
            out.append(row)
        return out

    def failed_runs(self, mode, workload, tool):
        """(failed, total) runs of a tool."""
        ss = [s for s in self.samples if (s["mode"], s["workload"], s["tool"]) == (mode, workload, tool)]
        return sum(not s["ok"] for s in ss), len(ss)

    def verdict(self, mode, workload, ratio, limit, detail):
        """A target's cell: ❌ whenever a gljob run failed, whatever the others' times."""
        failed, n = self.failed_runs(mode, workload, "gljob")
        if failed:
            rest = f"; successful runs: {ratio:.2f}× ({detail})" if ratio is not None else ""
            return f"❌ {failed} of {n} gljob runs failed{rest}"
        return verdict(ratio, limit, detail)

    def median_wall(self, mode, workload, tool):
        for r in self.rows(mode, workload):
            if r["tool"] == tool and "wall" in r:
                return r["wall"]
        return None

    def issue15(self, w):
        """The acceptance table of issue 15: against ripunzip and the floor, disk and writes."""
        a = self.args
        modes = [m for m in a.modes if m != "throttled"]
        if not modes:
            return
        w("## Acceptance (issue 15)\n")
        w("Ratios are gljob's median wall time divided by the other's median, both from this run; the floor is the "
          "largest of download alone, floor: create and floor: inflate, per round (see Method). Written is what the "
          "kernel counted as written by the process tree (GNU time's `%O`: pages dirtied, deleted files' included); "
          "peak disk is the filesystem's largest growth while the tool ran (sampled every 10 ms). On one-big (stored, "
          "1 GiB) both are compared with the unpacked bytes; on the many-file workloads with what floor: create, "
          "which writes just the tree, takes (each file also costs a block and an inode).\n")
        w("| target | " + " | ".join(MODE_TITLES[m] for m in modes) + " |")
        w("|---|" + "---|" * len(modes))
        for workload in [x for x in ("mixed", "many-small", "one-big") if x in a.workloads]:
            for other, limit in [("curl + ripunzip", 0.8), ("floor", 1.2)]:
                if other != "floor" and not self.ripunzip:
                    continue
                cells = []
                for m in modes:
                    g, o = self.median_wall(m, workload, "gljob"), self.median_wall(m, workload, other)
                    cells.append(self.verdict(m, workload, g / o if g and o else None, limit, f"{fmt_s(g)} vs {fmt_s(o)}"))
                w(f"| {workload}: gljob ≤ {limit}× {other} | " + " | ".join(cells) + " |")
        # Against the unpacked bytes on one-big (stored, 1 GiB: the issue's measure); on the
        # many-file workloads against what the tree alone takes (floor: create writes just the
        # tree), since every file also costs a block and an inode.
        for workload in [x for x in ("one-big", "mixed", "many-small") if x in a.workloads]:
            raw = self.manifest["workloads"][workload]["raw_bytes"]
            for key, what in [("disk_peak", "peak disk"), ("written", "bytes written")]:
                tree = None
                if workload != "one-big":
                    ts = [s.get(key, 0) for s in self.samples
                          if (s["mode"], s["workload"], s["tool"]) == (modes[0], workload, "floor: create") and s["ok"]]
                    tree = statistics.median(ts) if ts else None
                base, base_name = (tree, "the tree alone (floor: create)") if tree else (raw, "unpacked")
                cells = []
                for m in modes:
                    ss = [s for s in self.samples if (s["mode"], s["workload"], s["tool"]) == (m, workload, "gljob") and s["ok"]]
                    if not ss:
                        cells.append("–")
                        continue
                    worst = max(s.get(key, 0) for s in ss)
                    cells.append(verdict(worst / base, 1.05, f"worst run {fmt_bytes(worst)} of {fmt_bytes(base)}"))
                w(f"| {workload}: {what} ≤ 1.05× {base_name} | " + " | ".join(cells) + " |")
        size = os.path.getsize(self.gljob) if os.path.isfile(self.gljob) else None
        if size:
            w(f"| binary ≤ 4 MiB | {verdict(size / (4 * MiB), 1.0, f'{size:,} bytes')} |" + " – |" * (len(modes) - 1))
        w("")

    def report(self):
        a = self.args
        rate = fmt_rate(a.throttle)
        L = []
        w = L.append
        w("# gljob benchmarks\n")
        if a.quick:
            w("> **Quick mode** (`bench/run.sh --quick`): tiny workloads and one run each. This checks that the\n"
              "> harness works; its numbers say nothing about speed.\n")
        w(f"Written by `{self.info['command']}` "
          f"on {self.started}; the run took **{fmt_duration(self.elapsed)}** (builds not included). "
          "What is measured, and how, is under [Method](#method); the targets are GitLab issue 6's.\n")
        if self.rendered_from:
            w(f"> Rewritten from that run's saved samples by `bench/run.sh --report-from` (harness: "
              f"{git_rev()}).{' ' + self.info['note'] if self.info.get('note') else ''}\n")
        w(f"- Machine: {self.info['machine']}. "
          f"Load average (1 min, the benchmark's own processes included) at the start and end of each mode: "
          + "; ".join(f"{MODE_TITLES[m]} {' → '.join(v)}" for m, v in self.loads.items())
          + ". Other work on the machine shows as spread in the min–max columns.")
        w(f"- Versions: {self.info['versions']}.")
        w(f"- Runs: {a.runs} of each tool per mode and workload, interleaved (A B C A B C …); "
          "tables show medians, with the min–max of wall time.\n")

        w("## Acceptance (issue 6)\n")
        w("Ratios are gljob's median wall time divided by the other's, both from this run. The speed targets against "
          "curl + unzip are for loopback (local and object storage); under the bandwidth limit the link sets the pace "
          "for every tool, so that column is for information (in parentheses), and the limit's own target is the "
          "download-alone/extraction-alone row. A target with a failed gljob run is not met.\n")
        modes = a.modes
        w("| target | " + " | ".join(MODE_TITLES[m] if m != "throttled" else f"{MODE_TITLES[m]} ({rate})" for m in modes) + " |")
        w("|---|" + "---|" * len(modes))
        for workload, limit in [("mixed", 0.7), ("many-small", 0.7), ("one-big", 0.4)]:
            if workload not in a.workloads:
                continue
            cells = []
            for m in modes:
                g, c = self.median_wall(m, workload, "gljob"), self.median_wall(m, workload, "curl + unzip")
                ratio = g / c if g and c else None
                detail = f"{fmt_s(g)} vs {fmt_s(c)}"
                if m == "throttled":
                    # The link, not the tools, sets the pace here: for information only.
                    cells.append(f"({ratio:.2f}×, {detail})" if ratio else "–")
                else:
                    cells.append(self.verdict(m, workload, ratio, limit, detail))
            w(f"| {workload}: gljob ≤ {limit}× curl + unzip | " + " | ".join(cells) + " |")
        if "mixed" in a.workloads and "throttled" in modes:
            g = self.median_wall("throttled", "mixed", "gljob")
            d = self.median_wall("throttled", "mixed", "download alone")
            e = self.median_wall("throttled", "mixed", "extraction alone")
            ref = max(d, e) if d and e else None
            cells = ["–" if m != "throttled" else self.verdict(
                m, "mixed", g / ref if g and ref else None, 1.15,
                f"{fmt_s(g)} vs max({fmt_s(d)} download, {fmt_s(e)} extraction)") for m in modes]
            w("| mixed, bandwidth-limited: gljob ≤ 1.15× max(download alone, extraction alone) | " + " | ".join(cells) + " |")
        if "one-big" in a.workloads:
            small = self.manifest["workloads"]["one-big"]["small_file"]
            for prefix, limit, label in [("gljob fetch --path", MiB, f"one-big: `--path {small}` transfers < 1 MiB"),
                                         ("gljob fetch --list", 256 * KiB, "one-big: `--list` transfers < 256 KiB")]:
                cells = []
                for m in modes:
                    p = [p for p in self.probes if p["mode"] == m and p["tool"].startswith(prefix)]
                    if not p or not p[0]["ok"]:
                        cells.append("❌ failed" if p else "–")
                    else:
                        b = p[0]["bytes"]
                        cells.append(f"{'✅' if b < limit else '❌'} {fmt_bytes(b)}")
                w(f"| {label} | " + " | ".join(cells) + " |")
        cells = []
        for m in modes:
            rss = [s["rss_kib"] for s in self.samples + self.probes if s["mode"] == m and s["tool"].startswith("gljob") and s["ok"]]
            if rss:
                worst = max(rss)
                which = max((s for s in self.samples + self.probes if s["mode"] == m and s["tool"].startswith("gljob") and s["ok"]),
                            key=lambda s: s["rss_kib"])
                cells.append(f"{'✅' if worst <= 16 * KiB else '❌'} {worst / KiB:.1f} MiB ({which['workload']})")
            else:
                cells.append("–")
        w("| gljob peak RSS ≤ 16 MiB on every workload (worst run) | " + " | ".join(cells) + " |")
        jr = {r["name"]: r for r in self.job_rows}
        if self.job_tool:
            if "gljob job" in jr and "curl" in jr:
                g, c = jr["gljob job"]["median"], jr["curl"]["median"]
                first = verdict(g / c, 1.5, f"{g * 1000:.1f} ms vs {c * 1000:.1f} ms")
            else:
                first = "❌ failed"
            cells = [first if m == modes[0] else "–" for m in modes]
            w("| `gljob job` ≤ 1.5× curl (GET /job) | " + " | ".join(cells) + " |")
        w("")

        self.issue15(w)

        w("## Workloads\n")
        w("Generated by `fake-gitlab/examples/bench_server.rs` (deterministic: the same bytes on every machine), "
          "served from disk by the fake GitLab.\n")
        w("| workload | files | directories | unpacked | archive | what |")
        w("|---|---:|---:|---:|---:|---|")
        what = {
            "mixed": "a build's artifacts: source, reports and logs (deflated text, about 4×), assets and tools "
                     "(binary-like, about 2×), images (stored), sizes 256 B – 64 KiB log-uniform; then 4 large files",
            "many-small": "a `node_modules`-like tree of text files of 100 B – 2 KiB",
            "one-big": "one incompressible file (stored, Zip64), then one small file (`fake_gitlab::zips::write_large`)",
        }
        for name in WORKLOADS:
            m = self.manifest["workloads"][name]
            w(f"| {name} | {m['files']:,} | {m['dirs']:,} | {fmt_bytes(m['raw_bytes'])} | {fmt_bytes(m['zip_bytes'])} | {what[name]} |")
        w("")

        w("## Results\n")
        w("Wall time is the whole process, start to exit; CPU is user + system of the process and its children; "
          "peak RSS is the largest of the runs (for `curl + unzip`, of the larger of the two programs); "
          "transferred is what the fake GitLab wrote to sockets (headers included) during the run, both origins. "
          "The last column is gljob's median wall time divided by this tool's.\n")
        for m in modes:
            w(f"### {MODE_TITLES[m].capitalize()}: {MODES[m].format(rate=rate)}\n")
            for workload in a.workloads:
                rows = self.rows(m, workload)
                g = next((r.get("wall") for r in rows if r["tool"] == "gljob"), None)
                w(f"**{workload}**\n")
                w("| tool | wall (median) | wall min–max | CPU | peak RSS | transferred | requests | written | peak disk | gljob ÷ this |")
                w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
                for r in rows:
                    if "wall" not in r:
                        w(f"| {r['tool']} | failed ({r['n'] - r['ok']} of {r['n']} runs) | | | | | | | | |")
                        continue
                    if r["tool"] == "floor":
                        w(f"| **floor** (largest of the three above, per round) | {fmt_s(r['wall'])} | "
                          f"{fmt_s(r['wall_min'])}–{fmt_s(r['wall_max'])} | | | | | | | {g / r['wall']:.2f} |" if g else "")
                        continue
                    reqs = f"{r['requests']:g}" + (f" ({r['storage_requests']:g} storage)" if r["storage_requests"] else "")
                    lo, hi = r["bytes_range"]
                    sent = fmt_bytes(r["bytes"]) + ("" if hi - lo <= 4096 else f" ({fmt_bytes(lo)}–{fmt_bytes(hi)})")
                    ratio = f"{g / r['wall']:.2f}" if g else "–"
                    fails = "" if r["ok"] == r["n"] else f" ({r['n'] - r['ok']} failed)"
                    w(f"| {r['tool']}{fails} | {fmt_s(r['wall'])} | {fmt_s(r['wall_min'])}–{fmt_s(r['wall_max'])} | "
                      f"{fmt_s(r['cpu'])} | {r['rss'] / KiB:.1f} MiB | {sent} | {reqs} | "
                      f"{fmt_bytes(r.get('written', 0))} | {fmt_bytes(r.get('disk_peak', 0))} | {ratio} |")
                w("")
            probes = [p for p in self.probes if p["mode"] == m]
            if probes:
                w("**one-big, selective fetches** (one run each)\n")
                w("| command | wall | CPU | peak RSS | transferred | requests |")
                w("|---|---:|---:|---:|---:|---:|")
                for p in probes:
                    res = "" if p["ok"] else f" (failed: {p['note'] or 'exit ' + str(p['exit'])})"
                    reqs = f"{p['requests']}" + (f" ({p['storage_requests']} storage)" if p["storage_requests"] else "")
                    w(f"| `{p['tool']}`{res} | {fmt_s(p['wall'])} | {fmt_s(p['cpu'])} | {p['rss_kib'] / KiB:.1f} MiB | "
                      f"{fmt_bytes(p['bytes'])} | {reqs} |")
                w("")

        if self.job_rows:
            w("## GET /job round trip\n")
            w(f"Local mode; timed with {self.job_tool}. Peak RSS is the largest of a few runs under `/usr/bin/time`.\n")
            w("| command | median | mean ± σ | min–max | peak RSS | ÷ curl |")
            w("|---|---:|---:|---:|---:|---:|")
            c = jr["curl"]["median"] if "curl" in jr else None
            for r in self.job_rows:
                ratio = f"{r['median'] / c:.2f}" if c else "–"
                w(f"| `{r['name']}` | {r['median'] * 1000:.1f} ms | {r['mean'] * 1000:.1f} ± {r['stdev'] * 1000:.1f} ms | "
                  f"{r['min'] * 1000:.1f}–{r['max'] * 1000:.1f} ms | {r['rss_kib'] / KiB:.1f} MiB | {ratio} |")
            w("")

        if self.failures:
            w("## Failed measurements\n")
            w("Not counted in the medians above.\n")
            w("```")
            for f in self.failures:
                w(f.rstrip())
            w("```\n")

        if not a.quick:
            w(PROFILES)
        w(METHOD.format(rate=rate, runs=a.runs))
        return "\n".join(L) + "\n"


PROFILES = """## Where the time goes (profiles)

**Issue 15, second round: small entries inflated by libdeflate, directories dated through handles**
(2026-12-02, this report's machine, from 91cf77c to 2c637f2). `perf record -F 4000 -g` of a local fetch of
mixed at 91cf77c: zlib-rs was 41% of gljob's samples (`inflate_fast_help` 29%, match copies 6%, table
building 4%), the kernel's file creation and page-cache copies most of the rest. Inflating the entries of
up to 256 KiB in memory on one core: libdeflate 0.29 s against zlib-rs's 0.49 s on mixed, 0.33 s against
0.54 s on many-small (a decoder reset between entries; one built per entry, as before, measured no slower
inside gljob, whose allocator reuses the freed state). So entries of up to 256 KiB are now read whole and
inflated in one call by libdeflate (`zipfmt::Inflater`); larger ones still stream through zlib-rs. The
dating of directories after unpacking reopened each one from the tree's root (28,000 system calls for
many-small's 2,201 directories, 75 ms of single-threaded time); it now walks the workers' stack of parent
handles. Alternating the binaries, fetches into tmpfs (no ext4 effects): mixed user time 1.08–1.29 s before,
0.82–0.89 s after; many-small 1.36–1.48 s before, 1.21–1.28 s with libdeflate, 1.10–1.26 s with the
dating change too. Three workers instead of two changed nothing measurable on either. A mixed fetch into
tmpfs keeps 1.95 of the 2 cores busy (gljob and the fake server together, from /proc/stat), so what is left
is CPU work; on many-small, into tmpfs, it is `openat` creating files 32% of gljob's samples, `write` 20%,
libdeflate 18%, `close` 5%, `utimensat` 5%, planning about 2%. On this machine the floor's largest part
on mixed and many-small is floor: create, and it is also its noisiest: its median on mixed was 1.31 s in the
local mode and 0.96 s in the object-storage mode of the same run, min–max 0.68–1.64 s over the six rounds,
while gljob's own medians in the two modes were 1.54 s and 1.60 s.

**Issue 15, first round: mixed, gljob against ripunzip** (2026-12-01, another machine: an Intel Xeon, 2 cores; at bcc819e, before segments were taken costliest first and before libdeflate). Both tools ran on a
fresh journal-less ext4 on a loop device (as this machine's root filesystem, but with no inodes freed
recently, see below), `perf record -F 2000 -g`, shares of each tool's own CPU samples:

| | gljob fetch (network, streamed) | ripunzip unzip-file (archive already in memory, /dev/shm) |
|---|---:|---:|
| CPU sampled | 2.7 s | 3.3 s (and curl's download and archive write before it) |
| inflate (zlib-rs, both) | 59% | 55% |
| `write` of the files | 13% | 15% |
| `openat` (creating files) | 10% | 8% |
| reading the archive | 3% (`recvfrom`) | 5% (`read`) |
| `mkdirat`, `utimensat`, CRC-32 | 2%, 1%, 1% | 1%, –, 1% |
| memory copies (user and kernel) | 7% | 6% |

Both were inflate-bound with the same inflater. gljob's lead is what it does not do: it never writes the
archive (258 MiB) nor reads it back, and the download overlaps the unpacking. What separates gljob from the
floor is that the floor's parts are measured apart, each with both cores to itself: floor: inflate alone
keeps both cores busy for about 0.95 s (1.9 CPU-s), and creating the files costs about as much CPU again, so
on 2 cores no tool that inflates and writes can finish mixed in 1.2× the inflate time. gljob's CPU (user +
system, in the results above) is 20–30% more than floor: inflate's alone (2.24–2.46 CPU-s against 1.86–1.88 in
the two runs). On many-small gljob's wall time is 10–20% over the sum of floor: create and floor: inflate.

Taken by hand on the same machine, not by `bench/run.sh`: `perf record -F 2000 -g` of one local
`gljob fetch` (a release build with line tables: `CARGO_PROFILE_RELEASE_STRIP=false
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release`), `perf report --children`, and
`strace -f -c` for system-call counts. Shares are of gljob's CPU samples (both workers and the
download thread); measured on 2026-11-23 at 186329f, and before it at bcd834f.

- **many-small** (100,000 files): kernel 72%, gljob 21%, libc 6%. In the kernel: creating files
  (`openat`) 38%, `write` 17% (most of it zeroing the rest of each file's page), `utimensat` (the
  archive's mtimes) 5%, `pread` 5%, `close` 3%, `mkdir` 2%. In gljob: inflate (zlib-rs) 14%. Six
  system calls per file: `openat`, two `pread` (local header with name, then data), `write`,
  `utimensat`, `close`. Two changes came from the profile at bcd834f (186329f): files are created
  with their mode instead of `fchmod` after (was 4% of CPU; still done when the umask or a default
  ACL would strip bits), and the inflate buffer is no bigger than the entry (BufReader zeroed 64 KiB
  per entry: 3% of CPU in `memset`); 8 system calls per file became 6.
- **many-small right after deleting 100,000 files** (how the harness used to run): about 70% of the CPU in
  ext4's `recently_deleted` and the buffer-cache lookups under it (`find_get_block_common`,
  `ext4_get_group_desc`), called from `ext4_create`. On ext4 without a journal (this machine's root
  filesystem) the inode allocator skips inodes freed in the last 60 s, 360 s while their inode-table
  block is not yet written back (ext4's `RECENTCY_MIN` + `RECENTCY_DIRTY`), one lookup each. Each
  create cost 580 µs of system time 5 s after removing 200,000 files, 200 µs after 130 s and 53 µs
  after 200 s; after removing 3.7 million (the end of a full run) the effect was still there after
  5 min 20 s and gone at 5 min 25 s. This, not gljob, made the earlier runs' many-small times grow
  from run to run; see Method for how the harness now avoids it.
- **one-big** (1 GiB stored): kernel 89%: `pwrite` of the body into the temporary archive 34%,
  `write` of the file 28%, `recvfrom` 11%, `pread` 7%, `unlinkat` of the temporary archive 6%; CRC-32
  3%. `copy_file_range` from the temporary archive would replace only the `pread` + `write` copies
  and would skip the CRC check the all-or-nothing promise rests on, for a workload already at
  about 0.2× curl + unzip; not done.
"""


METHOD = """## Method

- **One command**: `bench/run.sh` builds gljob (release) and the workload server
  (`fake-gitlab/examples/bench_server.rs`), makes a throwaway virtualenv with python-gitlab, generates the
  workloads once (cached in the work directory, `$BENCH_WORK`, default `/tmp/gljob-bench`) and runs
  `bench/harness.py`. `bench/run.sh --help` lists the options (`--quick`, `--runs`, `--modes`, `--workloads`,
  `--throttle`, `--with-7z`, `--output`, and `--report-from` to rewrite this report from a run's saved samples).
- **Server**: the fake GitLab (`fake_gitlab::Server`, plain HTTP on 127.0.0.1) serving each archive from disk
  (`Archive::File`, with `Range` and ETags) as job `mixed`, `many-small` or `one-big` of the latest successful
  pipeline on ref `bench` of project 1. The archives are in the page cache; the server shares the 2 cores with
  the tool being measured. Bandwidth-limited mode: `fake_gitlab::Config::throttle_bytes_per_sec`, here {rate},
  paces archive bodies on both origins through one shared token bucket (10 ms deep), as one link would.
- **Tools**, each run as one process tree from a fresh, empty directory:
  - `gljob fetch --project 1 --ref bench --job W --dest DEST --quiet`
  - `curl + unzip`: `curl -sSf -H "JOB-TOKEN: …" -o artifacts.zip URL`, then `unzip -q artifacts.zip -d DEST`
    and `rm artifacts.zip`. In object-storage mode curl is called twice: first without `-L`, reading the 302's
    `Location` with `-w '%{{redirect_url}}'`, then on the presigned URL without the token, because curl sends
    `-H` headers on to every redirect target (and the fake's storage refuses a request carrying the token).
  - `python-gitlab`: `bench/pygitlab.py`: `project.artifacts.download(ref_name=…, job=…, streamed=True,
    action=f.write)` (python-gitlab's default 1 KiB chunks) to a file, then `zipfile.ZipFile(…).extractall(DEST)`
    and removing the file. Its requests session drops `JOB-TOKEN` when a redirect leaves the API origin, for
    the same reason as curl's second call.
  - `download alone`: the same curl download to `/dev/null`. `extraction alone` (bandwidth-limited mode):
    `unzip -q` of the archive already on disk, no network. The bandwidth-limited target compares gljob with the
    larger of the two.
  - `curl + ripunzip`: the same curl download, then `ripunzip unzip-file -q artifacts.zip -d DEST` (Google's
    parallel unzip in Rust, built by `bench/run.sh` with `cargo install ripunzip --version 2.0.3`) and removing
    the file. `ripunzip unzip-uri`: `ripunzip unzip-uri -q -d DEST 'URL&job_token=…'`, ripunzip's own ranged
    download; it cannot send headers, so the token goes in GitLab's `job_token` query parameter, and it
    follows the 302 to object storage itself.
  - `floor: create`: `bench_server floor create ARCHIVE DEST` inflates every entry into memory first (not
    timed), then creates the same files and directories from memory on 2 threads (runs of 256 entries or 8 MiB
    taken in turn), and prints the time of that part alone. `floor: inflate`: `bench_server floor inflate
    ARCHIVE` reads the archive into memory (not timed), then inflates and CRC-checks every entry on 2 threads
    (the zip crate, zlib-rs, entries taken in turn) into a buffer that is thrown away. The **floor** row is,
    per round, the largest of download alone, floor: create and floor: inflate: no tool that downloads,
    inflates and writes can beat any of the three, and on 2 cores it has to fit all three into the same CPU.
  - `--with-7z` adds `curl + 7z` (`7z x`).
- **Order**: for each mode, for each workload, {runs} round(s) of all tools in the same order (A B C A B C …), so
  slow drifts in machine load hit every tool alike.
- **Measures**: wall time with the harness's monotonic clock around `/usr/bin/time` (which adds about a
  millisecond); CPU (user + system) and peak RSS (`%M`, the largest single process of the tree) from
  GNU time. Bytes transferred: `fake_gitlab::Server::bytes_sent` (status lines, headers and bodies written to
  client sockets, both origins), read before and after each run; a client that hangs up mid-body is charged for
  what was already in its socket buffer. Requests: the fake's request log. Written: GNU time's `%O` × 512, the
  bytes the kernel counted as written by the process tree (pages dirtied, so files deleted before they reach
  the disk count too). Peak disk: the filesystem's used bytes (`statvfs`) sampled every 10 ms while the tool
  runs and once after, minus before: the archive and the tree together at the worst moment.
- **Checks**: after every extraction the destination must hold exactly the archive's regular files and bytes
  (and for `--path`, only the selected file), or the run is reported as failed and left out of the medians.
  After each run `sync` flushes the page cache's dirty pages, so one run's writeback does not land in the next
  one's time. Extracted trees of `mixed` and `many-small` are **not deleted until the whole benchmark has
  ended**: on ext4 without a journal (this machine's root filesystem) the inode allocator skips every inode
  freed in the last minutes, one buffer-cache lookup each (`recently_deleted` under `ext4_create` in a `perf`
  profile), so creating 100,000 files right after deleting 100,000 took 10–20× the kernel time and every
  sample depended on what the previous one left behind. The benchmark measures the case without such a
  deletion just before the fetch; with one (say, `git clean` of a reused build directory on such a
  filesystem), every tool would pay the same extra cost per file. The run therefore needs disk for every tree it extracts (about 30 GB for
  three modes and three runs; the harness checks before it starts), removes them all at the end (about
  10 minutes for a full run, not counted in its duration), and a run that starts within 7 minutes of
  such a removal first waits for the rest of those 7 minutes (not counted either; see the profiles
  above). Keeping the trees means later samples run with more of them in the page and inode caches.
- **GET /job**: `curl -sSf -o /dev/null -H "JOB-TOKEN: …" $CI_API_V4_URL/job` against `gljob job` (summary)
  and `gljob job --json`, and python-gitlab's `gl.http_get("/job")` for reference.
- Every sample of the last run, with what this report was written from: `$BENCH_WORK/samples.json`
  (`samples-quick.json` for `--quick`).
"""


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def verdict(ratio, limit, detail):
    if ratio is None:
        return "–"
    return f"{'✅' if ratio <= limit else '❌'} {ratio:.2f}× ({detail})"


def fmt_s(x):
    if x is None:
        return "–"
    return f"{x:.3f} s" if x < 1 else f"{x:.2f} s"


def fmt_bytes(n):
    if n < 10 * KiB:
        return f"{n:,.0f} B"
    if n < MiB:
        return f"{n / KiB:.1f} KiB"
    return f"{n / MiB:.1f} MiB"


def fmt_rate(bps):
    return f"{bps / MiB:g} MiB/s"


def fmt_duration(s):
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def version(argv, words=None):
    """The first line of a --version output (its first `words` words)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"
    line = out.splitlines()[0] if out else "?"
    return " ".join(line.split()[:words]) if words else line


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return f"tree at {rev}{' with uncommitted changes' if dirty else ''}"
    except OSError:
        return "no git"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def mem_total():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / (1 << 20):.0f} GiB RAM"
    except OSError:
        pass
    return "? RAM"


def main():
    ap = argparse.ArgumentParser(prog="bench/run.sh", description="gljob's benchmark (issue 6): gljob fetch vs "
                                 "curl + unzip vs python-gitlab on three workloads served by the fake GitLab.",
                                 epilog="bench/run.sh also takes --install-deps: apt-get install what is missing. "
                                 "Environment: BENCH_WORK, CARGO_TARGET_DIR, GLJOB_BIN, PYTHON_GITLAB_VERSION.")
    ap.add_argument("--quick", action="store_true", help="tiny workloads, one run: a smoke test of the harness")
    ap.add_argument("--runs", type=int, help="runs of each tool per mode and workload (default 3; 1 with --quick)")
    ap.add_argument("--modes", default="local,object-storage,throttled",
                    help="comma-separated: local, object-storage, throttled (default: all)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated: mixed, many-small, one-big")
    ap.add_argument("--throttle", default="100", help="bandwidth of the throttled mode in MiB/s (default 100)")
    ap.add_argument("--with-7z", action="store_true", help="also measure curl + 7z x (needs p7zip-full)")
    ap.add_argument("--output", help="the report (default BENCHMARKS.md; with --quick $BENCH_WORK/BENCHMARKS-quick.md)")
    ap.add_argument("--report-from", metavar="SAMPLES_JSON",
                    help="measure nothing: write the report again from a run's saved samples ($BENCH_WORK/samples.json)")
    args = ap.parse_args()
    if args.report_from:
        bench = Bench(args)
        bench.load(args.report_from)
        bench.rendered_from = args.report_from
        args.output = args.output or (os.path.join(bench.work, "BENCHMARKS-quick.md") if args.quick
                                      else os.path.join(ROOT, "BENCHMARKS.md"))
        bench.write_report()
        log(f"report: {args.output}")
        return
    args.runs = args.runs or (1 if args.quick else 3)
    args.modes = [m for m in args.modes.split(",") if m]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for m in args.modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}")
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}")
    args.throttle = int(float(args.throttle) * MiB)
    if args.with_7z and not shutil.which("7z"):
        ap.error("--with-7z needs 7z (Debian: apt-get install p7zip-full)")
    if not args.output:
        args.output = (os.path.join(os.environ["BENCH_WORK"], "BENCHMARKS-quick.md") if args.quick
                       else os.path.join(ROOT, "BENCHMARKS.md"))
    sys.exit(Bench(args).run())


if __name__ == "__main__":
    main()
