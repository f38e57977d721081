"""Stack → Airflow DAGs. Importing this package registers the renderer of every built-in step kind."""

from loadstack.airflow.render import app, data, ramp, terraform  # noqa: F401  (each registers its kinds' renderers)
from loadstack.airflow.render.dag import (
    TEARDOWN_SUFFIX,
    build_dag,
    build_teardown_dag,
    dags_for_file,
    stacks_dir,
)

__all__ = ["TEARDOWN_SUFFIX", "build_dag", "build_teardown_dag", "dags_for_file", "stacks_dir"]
