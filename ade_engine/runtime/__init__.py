"""Code that runs INSIDE the job subprocess: the pass pipeline and everything it needs.

Dependency rule: imports only `ade_engine.manifest`, `ade_engine.errors` and third-party libraries,
never store/services/jobs/secrets/settings/cli.
"""
