"""Benchmarks: dj_jupyter next to DataJoint 2.3.5 and the raw drivers, in one run, reported as ratios."""
