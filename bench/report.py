"""Helpers for scripts/bench: the machine and commit a figure was measured on, checks on
LocalStack that a run really left every bucket compliant, and writing one marked section
of BENCHMARKS.md (each section is replaced whole by the run that measured it)."""
import datetime, json, os, platform, re, subprocess, sys, urllib.request


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    cores = os.cpu_count()
    mem = round(int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) / 1024 / 1024)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    # BENCHMARKS.md itself does not count: the sections written before this one changed it.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md"],
                           capture_output=True, text=True).stdout.strip()
    return f"{datetime.date.today()}, commit {commit}{' (with uncommitted changes)' if dirty else ''}; {cpu}, {cores} cores, {mem} GiB; release build"


def write_section(name, body):
    section = f"<!-- {name}: written by `scripts/bench`; do not edit -->\n{body.strip()}\n<!-- /{name} -->"
    doc = open("BENCHMARKS.md").read()
    pattern = re.compile(rf"<!-- {re.escape(name)}:.*?<!-- /{re.escape(name)} -->", re.S)
    doc = pattern.sub(lambda _: section, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + section + "\n"
    open("BENCHMARKS.md", "w").write(doc)
    print(section)


def s3_client(account):
    import boto3  # from the Cloud Custodian venv
    return boto3.client("s3", endpoint_url="http://127.0.0.1:4566", region_name="us-east-1",
                        aws_access_key_id=account, aws_secret_access_key="test")


def uncompliant(account, prefix, n):
    """Buckets PREFIX-00000.. whose public access block is not fully on, read back from
    LocalStack with boto3 (not with custos)."""
    s3 = s3_client(account)
    bad = []
    for i in range(n):
        b = f"{prefix}-{i:05}"
        try:
            c = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
            if not all(c.get(k) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")):
                bad.append(b)
        except s3.exceptions.ClientError:
            bad.append(b)
    return bad


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def percentile(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]
