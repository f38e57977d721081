"""Airflow glue: everything in loadstack that imports Airflow lives in this package.

The rest of loadstack (spec, graph, kinds, Terraform runner, data, cache, snapshots, aws helpers)
is Airflow-free; `make test` enforces that with import-linter. Importing this package hands secret
values reported by the core (`loadstack.masking`) to the task log's masker.
"""

from airflow.sdk.log import mask_secret

from loadstack.masking import register_masker

register_masker(mask_secret)
