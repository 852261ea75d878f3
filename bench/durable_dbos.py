"""The DBOS Transact side of the 3-step workflow benchmark, run in its own process (DBOS is a
singleton): ``python -m bench.durable_dbos <db path> <workflows> <threads>`` prints workflows/s."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor


def main(path: str, count: int, threads: int) -> None:
    from dbos import DBOS

    DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{path}"})

    @DBOS.step()
    def step(n: int) -> int:
        return n

    @DBOS.workflow()
    def workflow() -> int:
        return step(1) + step(2) + step(3)

    DBOS.launch()
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: workflow(), range(count)))
    elapsed = time.perf_counter() - began
    assert results == [6] * count
    print(f"{count / elapsed:.1f}")
    DBOS.destroy()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
