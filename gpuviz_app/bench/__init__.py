"""`gpuviz bench`: every performance goal measured side by side with its peer, in one run.

Each topic module exposes `run(quick: bool) -> list[Figure]`. Timing lives here and in
`benchmarks/`, never in tests: tests only check that every figure is produced and finite.
"""
