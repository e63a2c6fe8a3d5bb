"""The cost of one point operation as a collection grows, on the store the tests use.

    python -m bench.store                           # embedded FerretDB, temporary directory
    MONGODB_URL=mongodb://host:27017 python -m bench.store

For each size, ``--operations`` lookups of random existing ids, one at a time, of the
two shapes the services' hot paths use: ``find_one({_id})`` and the compare-and-set
``update_one({_id, version}, ...)``. Prints milliseconds per operation (mean and p95).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.run import summarize
from deploy.localstack import LocalStack

SIZES = (100, 1_000, 5_000, 20_000, 100_000)


def measure(
    collection: Any, size: int, operations: int, versions: dict[str, int]
) -> dict[str, dict[str, float]]:
    ids = [f"user-{random.randrange(size)}" for _ in range(operations)]  # noqa: S311
    timings: dict[str, list[float]] = {"find_one by _id": [], "compare-and-set": []}
    for user in ids:
        started = time.perf_counter()
        collection.find_one({"_id": user})
        timings["find_one by _id"].append(time.perf_counter() - started)
        version = versions.get(user, 0)
        started = time.perf_counter()
        done = collection.update_one({"_id": user, "version": version}, {"$inc": {"version": 1}})
        timings["compare-and-set"].append(time.perf_counter() - started)
        assert done.modified_count == 1
        versions[user] = version + 1
    return {shape: summarize(samples) for shape, samples in timings.items()}


def run(url: str, operations: int) -> dict[str, Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    collection = client["bench_store"]["guards"]
    collection.drop()
    figures: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    try:
        for size in SIZES:
            have = collection.estimated_document_count()
            for start in range(have, size, 10_000):
                batch = range(start, min(size, start + 10_000))
                collection.insert_many([{"_id": f"user-{i}", "version": 0} for i in batch])
            figures[str(size)] = measure(collection, size, operations, versions)
            print(size, json.dumps(figures[str(size)]), flush=True)
    finally:
        collection.drop()
        client.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=300)
    args = parser.parse_args()
    if os.environ.get("MONGODB_URL"):
        run(os.environ["MONGODB_URL"], args.operations)
        return
    with tempfile.TemporaryDirectory() as workdir:
        stack = LocalStack(log_dir=Path(workdir), data_dir=Path(workdir))
        try:
            stack.ensure_mongodb()
            run(stack.env["MFA_MONGODB_URL"], args.operations)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
