"""The benchmark service: eval cases × models × samples, planned, executed, stored.

The one code path behind `quorum eval run`, the scheduled benchmark and the workers.
"""
