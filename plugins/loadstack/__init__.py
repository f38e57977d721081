"""loadstack: synthetic load-test stacks as Apache Airflow DAGs."""

__version__ = "0.1.0"
