"""The MySQL side of a stack's data tier: private MariaDB servers, migrations, seeding, snapshots.

Airflow-free on purpose: tasks call into these modules, and tests drive them against real servers.

- `mariadb`: a private `mariadbd` (own datadir, port, socket) that outlives the task starting it.
- `migrate`: ordered, checksummed SQL migrations from `schema/`.
- deterministic synthetic commerce data as TSV, ready for `LOAD DATA`: `params` (SeedParams, what to
  generate), `plan` (decisions that span tables), `words` (pools), `tsv` (field text),
  `base_tables` and `events` (the rows), `producer` (a shard generated in a child process).
- `seed`: resumable, per-shard loading with generation running beside the load.
- `snapshot`: physical `mariadb-backup` snapshots packed as .tar.zst, restored in about a second.

Submodules are not imported here: `python -m loadstack.data.producer` runs the generator as a
producer process, and importing it from the package first would make runpy warn.
"""
