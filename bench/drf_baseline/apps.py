"""App config of the DRF baseline."""

from django.apps import AppConfig


class DrfBaselineConfig(AppConfig):
    name = "bench.drf_baseline"
    label = "drf_baseline"
    default_auto_field = "django.db.models.BigAutoField"
