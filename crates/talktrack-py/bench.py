"""Benchmark of the Python package: one decision through Python over the Rust
baseline on the medium synthetic bundle, and the gymnasium environment's steps per
second, single and vectorised. Prints a table (a benchmark, not a test).

First leave the medium bundle, its requests and the Rust baseline in a directory
with the C ABI's benchmark, then run this with the package installed:

    TALKTRACK_BENCH_DIR=target/bench-medium cargo bench -p talktrack-capi --bench abi
    python crates/talktrack-py/bench.py target/bench-medium configs/p4g_reference.toml
"""

import json
import pathlib
import statistics
import sys
import time

import numpy as np

import talktrack

ROUNDS = 20
PER_ROUND = 2000


def p50_us(f, n):
    for i in range(n // 10):
        f(i)
    times = []
    for i in range(n):
        t = time.perf_counter()
        f(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def steps_per_sec(step, seconds=2.0):
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        steps += step()
    return steps / (time.perf_counter() - start)


def main(bench_dir, config):
    bench_dir = pathlib.Path(bench_dir)
    baseline = float((bench_dir / "baseline_us.txt").read_text())
    texts = (bench_dir / "requests.jsonl").read_text().splitlines()
    dicts = [json.loads(t) for t in texts]
    engine = talktrack.Engine(bench_dir)
    py_dict = statistics.median(
        p50_us(lambda i: engine.decide(dicts[i % len(dicts)]), PER_ROUND) for _ in range(ROUNDS)
    )
    py_text = statistics.median(
        p50_us(lambda i: engine.decide(texts[i % len(texts)]), PER_ROUND) for _ in range(ROUNDS)
    )

    env = talktrack.TalkTrackEnv(config)
    env.reset(seed=0)

    def single():
        _, _, terminated, _, _ = env.step(int(env.action_masks().argmax()))
        if terminated:
            env.reset()
        return 1

    venv = talktrack.TalkTrackVecEnv(config, num_envs=64, seed=0)
    venv.reset()

    def vectorised():
        venv.step(venv.action_masks().argmax(axis=1))
        return 64

    single_sps = steps_per_sec(single)
    vec_sps = steps_per_sec(vectorised)

    print("medium synthetic bundle, one thread, p50 per decision in µs")
    print()
    print("| path | µs per decision | over the Rust baseline |")
    print("|---|---|---|")
    print(f"| Rust: Request::from_json → decide → to_json | {baseline:.2f} | — |")
    print(f"| Python: engine.decide(dict) → dict | {py_dict:.2f} | {py_dict - baseline:+.2f} |")
    print(f"| Python: engine.decide(json text) → dict | {py_text:.2f} | {py_text - baseline:+.2f} |")
    print()
    print(f"gymnasium environment on {config}, from Python (first allowed action)")
    print()
    print("| environment | steps/s |")
    print("|---|---|")
    print(f"| TalkTrackEnv (one) | {single_sps:,.0f} |")
    print(f"| TalkTrackVecEnv (64) | {vec_sps:,.0f} (target 50,000) |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
