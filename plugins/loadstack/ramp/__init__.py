"""The traffic-shift ramp: a controller that moves load onto a stack in stages and holds it in a band.

No Airflow and no I/O here: the controller sees time through an injected clock, acts through a
`TrafficDriver` and observes through a `MetricSource`; the Airflow layer runs it in a task.
"""
