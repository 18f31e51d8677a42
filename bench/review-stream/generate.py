#!/usr/bin/env python3
"""The review stream of issue 26: 2,000 findings over 120 days across four resource classes
and three environments, each with the decision a human reviewer makes when custos asks
and what happens after a fix. It is the ground truth the replay test
(crates/custos-engine/tests/review_stream.rs) checks custos against; it is written here,
apart from custos, from the team policies below, with a fixed seed, and checked in.

    python3 bench/review-stream/generate.py > tests/fixtures/review-stream/stream.jsonl

Team policies (per class and environment: the share of requests the reviewer denies, the
share of fixes whose verification fails, the share of fixes that recur later):
- s3 public access block, every environment: always approved, always holds.
- sqs encryption: always approved; 3 % of production fixes fail verification (a queue
  whose producers use a key policy the fix does not reach).
- sns encryption, every environment: the messaging team keeps its own keys and denies
  35 % of requests.
- logs retention: development and staging always approved, but 4 % of fixes recur (a
  pipeline resets retention); production reviewers deny 20 % (retention is a legal call).
"""
import json
import random

SEED = 26
FINDINGS = 2000
DAYS = 120

CLASSES = [
    # class, control, share of findings
    ("s3", "s3-public-access-block", 0.35),
    ("sqs", "sqs-queue-encryption", 0.25),
    ("sns", "sns-topic-encryption", 0.15),
    ("logs", "logs-retention", 0.25),
]
ENVIRONMENTS = [("dev", 0.4), ("staging", 0.2), ("production", 0.4)]

# (class, environment) -> (deny, fails verification, recurs)
POLICY = {
    ("s3", "dev"): (0.0, 0.0, 0.0),
    ("s3", "staging"): (0.0, 0.0, 0.0),
    ("s3", "production"): (0.0, 0.0, 0.0),
    ("sqs", "dev"): (0.0, 0.0, 0.0),
    ("sqs", "staging"): (0.0, 0.0, 0.0),
    ("sqs", "production"): (0.0, 0.03, 0.0),
    ("sns", "dev"): (0.35, 0.0, 0.0),
    ("sns", "staging"): (0.35, 0.0, 0.0),
    ("sns", "production"): (0.35, 0.0, 0.0),
    ("logs", "dev"): (0.0, 0.0, 0.04),
    ("logs", "staging"): (0.0, 0.0, 0.04),
    ("logs", "production"): (0.2, 0.0, 0.0),
}


def pick(rng, weighted):
    r, acc = rng.random(), 0.0
    for item in weighted:
        acc += item[-1]
        if r < acc:
            return item
    return weighted[-1]


def main():
    rng = random.Random(SEED)
    days = sorted(rng.uniform(0, DAYS) for _ in range(FINDINGS))
    for n, day in enumerate(days):
        cls, control, _ = pick(rng, CLASSES)
        env, _ = pick(rng, ENVIRONMENTS)
        deny, fail, recur = POLICY[(cls, env)]
        outcome = "verified"
        if rng.random() < fail:
            outcome = "fails_verification"
        elif rng.random() < recur:
            outcome = "recurs"
        print(json.dumps({
            "n": n,
            "day": round(day, 4),
            "class": cls,
            "control": control,
            "resource": f"{cls}-{env}-{n:04d}",
            "environment": env,
            "reviewer": "deny" if rng.random() < deny else "approve",
            "outcome": outcome,
        }, sort_keys=True))


if __name__ == "__main__":
    main()
