"""scripts/bench's measurements (called by scripts/bench with the binaries built and
LocalStack, Postgres and Cloud Custodian ready). Each section measures, checks its result
independently (buckets read back from LocalStack with boto3, counts from the ledger with
psql), and rewrites its own section of BENCHMARKS.md. A check that fails stops the
script: an unverified figure is never written."""
import json, os, random, shutil, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from report import machine, median, percentile, uncompliant, write_section

BIN = os.environ["CUSTOS_BIN_DIR"]
CUSTOS, LOADGEN = f"{BIN}/custos", f"{BIN}/custos-loadgen"
CUSTODIAN = os.environ["CUSTODIAN"]
PSQL = os.environ["PSQL"]
PG = os.environ["CUSTOS_TEST_POSTGRES"]
CONFIG = os.path.abspath("bench/custos-bench.toml")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WHERE = machine()


def fail(msg):
    sys.exit(f"bench: {msg}")


def account():
    return "1" + "".join(random.choice("0123456789") for _ in range(11))


def aws_env(acct, endpoint="http://127.0.0.1:4566"):
    env = dict(os.environ)
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=acct, AWS_SECRET_ACCESS_KEY="test",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    return env


def run(cmd, env=None, ok=(0,), **kw):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if r.returncode not in ok:
        fail(f"{' '.join(cmd[:4])} ... exited {r.returncode}: {r.stderr[-3000:]}")
    return r


def timed(cmd, env=None, ok=(0,)):
    t = time.perf_counter()
    r = run(cmd, env=env, ok=ok)
    return time.perf_counter() - t, r


def psql(db, sql):
    return run([PSQL, "-X", "-At", "-d", db, "-c", sql]).stdout.strip()


def fresh_db(name):
    psql(PG, f"DROP DATABASE IF EXISTS {name}")
    psql(PG, f"CREATE DATABASE {name}")
    return PG.rsplit("/", 1)[0] + "/" + name


LOCALSTACK_LOG = os.environ["LOCALSTACK_LOG"]


class Requests:
    """AWS requests LocalStack served while a block ran, from its request log (one
    `localstack.request.aws ... AWS service.Operation => status` line per request)."""

    def __enter__(self):
        self.start = os.path.getsize(LOCALSTACK_LOG)
        return self

    def __exit__(self, *exc):
        with open(LOCALSTACK_LOG, "rb") as f:
            f.seek(self.start)
            self.count = sum(1 for l in f if b"localstack.request.aws" in l and b": AWS " in l)


def seed_public(acct, prefix, n):
    run([LOADGEN, "public", prefix, str(n)], env=aws_env(acct))
    bad = uncompliant(acct, prefix, n)
    if len(bad) != n:
        fail(f"seeding left {n - len(bad)} of {n} buckets already compliant")


# 1. scan + remediate: custos run --once against custodian run, both verified.
def custodian_section(sizes):
    rows = []
    for n in sizes:
        c, k, creq, kreq = [], [], [], []
        for i in range(RUNS):
            acct = account()
            prefix = f"cb{i}-{acct}"  # bucket names are global, even on LocalStack
            seed_public(acct, prefix, n)
            with tempfile.TemporaryDirectory() as work, Requests() as req:
                dt, r = timed([CUSTOS, "--config", CONFIG, "--database-url", f"{work}/ledger.db",
                               "--output", "json", "run", "--once"], env=aws_env(acct))
                report = json.loads(r.stdout)
            creq.append(req.count)
            bad = uncompliant(acct, prefix, n)
            if bad:
                fail(f"custos left {len(bad)} of {n} buckets non-compliant (e.g. {bad[:3]})")
            fixed = sum(1 for x in report["rows"] if x["outcome"] == "fixed")
            if fixed != n:
                fail(f"custos reported {fixed} fixes for {n} buckets")
            c.append(dt)
            acct = account()
            prefix = f"kb{i}-{acct}"  # bucket names are global, even on LocalStack
            seed_public(acct, prefix, n)
            with tempfile.TemporaryDirectory() as out, Requests() as req:
                dt, _ = timed([CUSTODIAN, "run", "--cache-period", "0", "-s", out, "--region", "us-east-1",
                               "bench/c7n-remediate.yml"], env=aws_env(acct))
                matched = len(json.load(open(f"{out}/s3-public-access-block/resources.json")))
            kreq.append(req.count)
            bad = uncompliant(acct, prefix, n)
            if bad or matched != n:
                fail(f"Cloud Custodian matched {matched} and left {len(bad)} of {n} buckets non-compliant")
            k.append(dt)
        rows.append((n, c, k, median(creq) / n, median(kreq) / n))
        print(f"  {n} buckets: custos {median(c):.2f} s, custodian {median(k):.2f} s", flush=True)
    c7n = run([CUSTODIAN, "version"]).stdout.strip()
    table = "\n".join(
        f"| {n:,} | {median(c):.2f} s ({min(c):.2f}-{max(c):.2f}) | {median(k):.2f} s ({min(k):.2f}-{max(k):.2f}) | "
        f"**{median(c) / median(k):.2f}x** | {n / median(c):,.0f} / {n / median(k):,.0f} | "
        f"{cr:.1f} / {kr:.1f} | {cr * n / median(c):,.0f} / {kr * n / median(k):,.0f} |"
        for n, c, k, cr, kr in rows)
    write_section("custodian", f"""
## 1. Scan and remediate: custos against Cloud Custodian, both verified

{WHERE}; LocalStack 4.13.1 on the same host; Cloud Custodian {c7n} from PyPI.
Command: `scripts/bench custodian` (sizes {', '.join(map(str, sizes))}; {RUNS} runs each).

Each run seeds N buckets in a fresh LocalStack account, all alike: no public access
block, otherwise compliant, tagged `environment=dev`. Then one tool detects and fixes
them: `custos run --once` (`bench/custos-bench.toml`: SQLite ledger, guard rate limit
raised to 1,000 calls/s, scans 32 buckets at a time; it also scans every other type
the shipped controls cover and decides on everything it finds: in a fresh LocalStack
account that is about 1,140 more items, almost all EBS snapshots of LocalStack's own
AMIs, each an alert-only finding, and failed CloudTrail reads, which LocalStack's
community edition lacks) or `custodian run --cache-period 0`
with `bench/c7n-remediate.yml` (`check-public-block` -> `set-public-block`). Afterwards
the script reads every bucket's public access block back with boto3; a run that left one
bucket non-compliant (or whose report does not name N fixes / N matches) stops the script.
AWS requests per bucket are counted from LocalStack's request log during each run.

| buckets | custos (median, min-max) | Cloud Custodian (median, min-max) | custos / Custodian wall time | buckets/s custos / Custodian | AWS requests per bucket custos / Custodian | requests/s custos / Custodian |
|---|---|---|---|---|---|---|
{table}
""")


# 2. MTTR: change event published to SQS -> fix recorded and verified in the ledger.
def worker_config(work, queue, extra=""):
    path = f"{work}/custos.toml"
    base = open(CONFIG).read().replace('"../rego"', f'"{os.path.abspath("rego")}"').replace(
        '"../playbooks"', f'"{os.path.abspath("playbooks")}"')
    open(path, "w").write(base + f"\n[telemetry]\nqueue_url = \"{queue}\"\nwait_seconds = 1\n{extra}")
    return path


def make_queue(acct, name):
    return run([LOADGEN, "queue", name], env=aws_env(acct)).stdout.strip()


def start_workers(n, cfg, db, env, idle=None):
    args = ["run"] + (["--exit-when-idle", str(idle)] if idle else [])
    return [subprocess.Popen([CUSTOS, "--config", cfg, "--database-url", db, *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=open(f"{os.path.dirname(cfg)}/worker{i}.log", "w"))
            for i in range(n)]


def ledger_times(db, kind):
    out = psql(db, f"SELECT resource, at FROM events WHERE kind = '{kind}' ORDER BY seq")
    rows = [l.split("|", 1) for l in out.splitlines() if l]
    return rows


def ms(rfc3339):
    from datetime import datetime
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000


def mttr_section(events, rate):
    results = []
    for workers in (1, 4):
        acct = account()
        prefix = f"m{workers}-{acct}"  # bucket names are global, even on LocalStack
        seed_public(acct, prefix, events)
        queue = make_queue(acct, f"mttr{workers}")
        db = fresh_db(f"bench_mttr_{workers}")
        with tempfile.TemporaryDirectory() as work:
            cfg = worker_config(work, queue)
            procs = start_workers(workers, cfg, db, aws_env(acct))
            time.sleep(3)  # let the workers migrate and start polling (not a measurement)
            sent = run([LOADGEN, "stream", queue, prefix, str(events), str(rate)], env=aws_env(acct)).stdout
            sent = {j["bucket"]: j["sent_ms"] for j in map(json.loads, sent.splitlines())}
            deadline = time.time() + 300
            while time.time() < deadline:
                done = ledger_times(db, "action.executed")
                if len(done) >= events:
                    break
                time.sleep(1)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=60)
        fixed = {r.rsplit("/", 1)[-1]: ms(at) for r, at in done}
        if len(done) != events or sorted(fixed) != sorted(sent):
            fail(f"MTTR with {workers} workers: {len(done)} fixes of {len(fixed)} distinct buckets "
                 f"in the ledger, expected exactly one for each of {events}")
        bad = uncompliant(acct, prefix, events)
        if bad:
            fail(f"MTTR with {workers} workers: {len(bad)} buckets non-compliant on LocalStack")
        lat = [(fixed[b] - sent[b]) / 1000 for b in sent]
        results.append((workers, lat))
        print(f"  {workers} workers: median {median(lat):.3f} s, p99 {percentile(lat, 99):.3f} s", flush=True)
    table = "\n".join(
        f"| {w} | {len(l)} | {median(l):.3f} s | {percentile(l, 99):.3f} s | {max(l):.3f} s |" for w, l in results)
    write_section("mttr", f"""
## 2. Time to remediate (MTTR) from a change event

{WHERE}. Command: `scripts/bench mttr` ({events} events, {rate} per second).

{events} buckets without a public access block (dev) in a fresh LocalStack account;
workers (`custos run`, Postgres ledger, SQS long polling with `wait_seconds = 1`) are
running; `custos-loadgen stream` then sends one EventBridge "Config Configuration Item
Change" event per bucket to the queue, {rate} per second, noting the time just before each
send. MTTR of a bucket = the time of its `action.executed` event in the ledger (written
after the fix was read back and the control passed) minus that send time. Checked: every
bucket has exactly one `action.executed` and reads back compliant with boto3.

| workers | events | median | p99 | max |
|---|---|---|---|---|
{table}
""")


# 3. decisions per second on one core.
def decisions_section(resources):
    runs = []
    for _ in range(RUNS):
        r = run(["taskset", "-c", "0", CUSTOS, "--config", CONFIG, "--database-url", "sqlite::memory:",
                 "--output", "json", "bench", "--resources", str(resources)])
        runs.append(json.loads(r.stdout))
    rep = sorted(runs, key=lambda x: x["decisions_per_second"])[len(runs) // 2]
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(rep["outcomes"].items()))
    write_section("decisions", f"""
## 3. Full decisions per second, one core

{WHERE}. Command: `taskset -c 0 custos --config bench/custos-bench.toml bench --resources {resources}`
({RUNS} runs; the median run shown).

A dry run of the engine (`run_once` in dry-run mode, the code a scan runs) over a
generated inventory of {rep['resources']:,} resources (80 % buckets in five environments,
about half failing one to three controls, one in forty excluded by name; 20 % security
groups, one in ten open). For every resource: detection (every applicable control, in
Rego); for every failing control with a playbook: a plan and the full decision: the gate
(floor, exclusions, change windows for production, a blackout for staging, blast-radius
limits with the counts of the run so far and the class sizes), the offline reasoning
rules, autonomy per class and environment, and the switches. Nothing is recorded; the
guard state is read from the ledger once. Timed: the whole dry run (not parsing).

| resources | findings | full decisions | seconds | **decisions/s** | resources/s |
|---|---|---|---|---|---|
| {rep['resources']:,} | {rep['findings']:,} | {rep['decisions']:,} | {rep['seconds']:.2f} | **{rep['decisions_per_second']:,.0f}** | {rep['resources_per_second']:,.0f} |

Outcomes of the median run: {outcomes}.
""")


# 4. 100,000 resources from a replay file.
def scale_section(n):
    with tempfile.TemporaryDirectory() as work:
        path = f"{work}/replay.ndjson"
        run([LOADGEN, "replay-file", path, str(n)])
        size = os.path.getsize(path)
        walls, rss = [], []
        for _ in range(RUNS):
            r = run(["/usr/bin/time", "-f", "%e %M", "-o", f"{work}/time", CUSTOS, "--config", CONFIG,
                     "--output", "json", "plan", "--replay", path])
            report = json.loads(r.stdout)
            if report["resources"] != n:
                fail(f"plan over the replay file evaluated {report['resources']} of {n} resources")
            w, m = open(f"{work}/time").read().split()
            walls.append(float(w))
            rss.append(int(m) / 1024)
    decided = sum(1 for x in report["rows"] if x["outcome"] not in ("no playbook", "error"))
    write_section("scale", f"""
## 4. {n:,} resources from a replay file

{WHERE}. Command: `custos --config bench/custos-bench.toml plan --replay FILE` ({RUNS} runs).

FILE: {n:,} EventBridge change events (NDJSON, {size / 1e6:.0f} MB) from `custos-loadgen
replay-file`: buckets in seven shapes (compliant, three misconfigurations, production,
excluded, under an incident). `plan` reads and validates every event, detects, plans and
decides each ({decided:,} decisions), and prints the report (JSON). Wall time and peak
RSS from `/usr/bin/time`.

| resources | median wall time | min-max | peak RSS (max) |
|---|---|---|---|
| {n:,} | {median(walls):.2f} s | {min(walls):.2f}-{max(walls):.2f} s | {max(rss):.0f} MiB |
""")


# 5. drain rate of a backlog, 1 and 4 workers, with and without 50 ms added latency.
def drain_section(events, buckets):
    rows = []
    for latency in (0, 50):
        for workers in (1, 4):
            acct = account()
            prefix = f"d{latency}w{workers}-{acct}"  # bucket names are global, even on LocalStack
            seed_public(acct, prefix, buckets)
            queue = make_queue(acct, f"drain{latency}{workers}")
            run([LOADGEN, "backlog", queue, prefix, str(buckets), str(events)], env=aws_env(acct))
            db = fresh_db(f"bench_drain_{latency}_{workers}")
            proxy = None
            endpoint = "http://127.0.0.1:4566"
            if latency:
                proxy = subprocess.Popen([LOADGEN, "proxy", str(latency)], env=aws_env(acct), stdout=subprocess.PIPE, text=True)
                endpoint = proxy.stdout.readline().strip()
            with tempfile.TemporaryDirectory() as work:
                cfg = worker_config(work, queue)
                start = time.time() * 1000
                procs = start_workers(workers, cfg, db, aws_env(acct, endpoint), idle=5)
                for p in procs:
                    if p.wait(timeout=3600) != 0:
                        fail(f"a drain worker exited {p.returncode}: {open(f'{work}/worker0.log').read()[-2000:]}")
            if proxy:
                proxy.kill()
            received = ledger_times(db, "input.received")
            if len(received) != events:
                fail(f"drain ({workers} workers, {latency} ms): {len(received)} of {events} events recorded")
            bad = uncompliant(acct, prefix, buckets)
            if bad:
                fail(f"drain ({workers} workers, {latency} ms): {len(bad)} buckets non-compliant")
            executed = len(ledger_times(db, "action.executed"))
            if executed != buckets:
                fail(f"drain ({workers} workers, {latency} ms): {executed} fixes for {buckets} buckets")
            # Drained = the last thing done for a resource (an input taken, a fix, an
            # observation), not the last message taken: that one is still being worked on.
            last = psql(db, "SELECT max(at) FROM events WHERE resource IS NOT NULL")
            seconds = (ms(last) - start) / 1000
            rows.append((latency, workers, seconds))
            print(f"  {latency} ms, {workers} workers: {seconds:.1f} s", flush=True)
    by = {(l, w): s for l, w, s in rows}
    table = "\n".join(
        f"| {l} ms | {w} | {s:.1f} s | {events / s:,.1f} | " + (f"{by[(l, 1)] / s:.2f}x |" if w > 1 else "1x |")
        for l, w, s in rows)
    write_section("drain", f"""
## 5. Draining a backlog: 1 and 4 workers on Postgres

{WHERE}. Command: `scripts/bench drain` ({events:,} events over {buckets} buckets).

{buckets} buckets without a public access block in a fresh LocalStack account;
{events:,} change events for them ({events // buckets} captures each, shuffled) already in
the queue. Workers `custos run --exit-when-idle 5` on one Postgres ledger. With latency,
every AWS request (SQS and S3) goes through `custos-loadgen proxy`, which delays it by
that much. Drain time = the last event about a resource in the ledger (an input taken, a
fix, an observation) minus the workers' start (the idle wait is not counted). Checked: {events:,} `input.received` events,
exactly {buckets} `action.executed`, every bucket compliant read back with boto3.

| added latency | workers | drain time | events/s | speed-up over 1 worker |
|---|---|---|---|---|
{table}
""")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "custodian":
        custodian_section([int(x) for x in os.environ.get("BENCH_SIZES", "100 500 2000").split()])
    elif what == "mttr":
        mttr_section(int(os.environ.get("BENCH_MTTR_EVENTS", "500")), int(os.environ.get("BENCH_MTTR_RATE", "10")))
    elif what == "decisions":
        decisions_section(int(os.environ.get("BENCH_DECISION_RESOURCES", "20000")))
    elif what == "scale":
        scale_section(int(os.environ.get("BENCH_SCALE", "100000")))
    elif what == "drain":
        drain_section(int(os.environ.get("BENCH_DRAIN_EVENTS", "2000")), int(os.environ.get("BENCH_DRAIN_BUCKETS", "500")))
    else:
        fail(f"unknown section `{what}`")
