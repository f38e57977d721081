"""Airflow's plugin loader imports every .py file of the plugins folder (plugins/.airflowignore keeps the
loadstack package out of that scan); this one only exposes loadstack's UI plugin, the ramp page."""

from loadstack.airflow.ui.plugin import LoadstackRampPlugin

__all__ = ["LoadstackRampPlugin"]
