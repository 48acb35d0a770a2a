"""Persistence: SQLAlchemy 2 tables (:mod:`storage.tables`), the database handle and
migrations (:mod:`storage.db`), and repository functions, one module per concept:
panel runs (:mod:`~storage.panel_runs_repo`), signals (:mod:`~storage.signals_repo`),
labels (:mod:`~storage.labels_repo`), cases (:mod:`~storage.case_repo`), eval runs
(:mod:`~storage.eval_repo`), jobs and calibrators (:mod:`~storage.job_repo`), the digest's
aggregates (:mod:`~storage.digest_queries`), people's recent demand that benchmarks
leave room for (:mod:`~storage.demand_repo`), and the spool for writes made while the
database is down (:mod:`~storage.spool`). Callers get typed records
(:mod:`~storage.records`), never ORM rows.

May import :mod:`evals` record types, nothing else of the project.
"""
