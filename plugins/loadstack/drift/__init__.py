"""Drift detection: what a Terraform plan would change in a live stack's steps, without Airflow.

`changes` reads a saved plan's JSON into drifted resources (sensitive values never kept), `live`
finds the stacks whose Terraform steps hold resources in the state bucket, `check` plans one step in
a disposable working copy (and re-applies the saved plan on request), and `report` is the run's
report model, its JSON / Markdown / HTML files and where they are stored.
"""
