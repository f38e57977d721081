# Airflow DAG that builds the snapshots defined in include/snapshots/*.yaml (migrated and seeded
# databases, cache RDBs) for the current profile and records them in the snapshot catalog.
from loadstack.airflow.render.snapshots import build_snapshots_dag
from loadstack.profiles import PROJECT_ROOT

dag = build_snapshots_dag(PROJECT_ROOT / "include" / "snapshots")
