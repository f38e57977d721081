# Airflow DAGs for the stack spec of the same name: include/stacks/shop_capacity.yaml.
# Every stack has a file like this one (copy it, rename it after the spec); a bad spec fails
# only this file's import, with the validation message among Airflow's import errors.
from loadstack.airflow.render import dags_for_file

dag, teardown_dag = dags_for_file(__file__)
