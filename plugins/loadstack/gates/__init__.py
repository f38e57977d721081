"""Gates: conditions on live services (HTTP, SQL, Prometheus, load balancer targets) that must all
hold before a ramp puts load on a stack. Spec models, the condition language, the pure checks and
the probes that fetch what the checks judge; no Airflow (the sensor and its trigger live in
`loadstack.airflow`)."""
