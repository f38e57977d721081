"""A ramp's report: its charts (`charts`), one self-contained HTML page (`page`), and the set of files a
run stores under its stack and run id, with their upload (`bundle`).

Built from the ramp's params, timeline, summary and check results only; no Airflow, no network but
the one S3 client `bundle.store_report` is handed. Importing `bundle` does not import matplotlib (1-2 s
here): `build_report` imports `charts` when it draws.
"""
