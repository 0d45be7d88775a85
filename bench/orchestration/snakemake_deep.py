#!/usr/bin/env python3
"""Runs Snakemake with a raised recursion limit and a large thread stack, so that
deep DAGs (a chain of 10,000 steps) are built rather than refused with
RecursionError. Arguments are passed through to Snakemake."""
import sys
import threading

sys.setrecursionlimit(1_000_000)
threading.stack_size(512 * 1024 * 1024)


def run():
    from snakemake import main
    try:
        main()
    except SystemExit as e:
        code[0] = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - reported as a failed peer run
        print(f"snakemake: {type(e).__name__}: {e}", file=sys.stderr)
        code[0] = 1


code = [0]
t = threading.Thread(target=run)
t.start()
t.join()
sys.exit(code[0])
