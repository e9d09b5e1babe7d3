"""The `contacts` table of the demo CRM, as an unmanaged model."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class Contact(models.Model):
    """One demo contact; the table is the demo's, so Django never migrates it."""

    id = models.BigAutoField(primary_key=True)
    external_id = models.UUIDField(unique=True)
    email = models.TextField(unique=True)
    first_name = models.TextField()
    last_name = models.TextField()
    # The columns are nullable in the demo schema; the model must say so.
    phone = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    job_title = models.TextField(null=True, blank=True)  # noqa: DJ001
    company_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16)  # enum contact_status
    # NOT NULL DEFAULT '{}': an empty list is a valid value (blank), not a missing one.
    tags = ArrayField(models.TextField(), default=list, blank=True)
    attributes = models.JSONField(default=dict)
    lifetime_value = models.DecimalField(max_digits=12, decimal_places=2)
    birthday = models.DateField(null=True, blank=True)
    hubspot_id = models.TextField(unique=True, null=True, blank=True)
    hubspot_synced_at = models.DateTimeField(null=True, blank=True)
    hubspot_sync_status = models.TextField(null=True, blank=True)  # noqa: DJ001
    hubspot_sync_error = models.TextField(null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    # Declared because mypy's Django plugin only adds `objects` to models of
    # the apps in config.settings, and this one belongs to its own project.
    objects: models.Manager[Contact] = models.Manager()

    class Meta:
        managed = False
        db_table = "contacts"
        app_label = "drf_baseline"

    def __str__(self) -> str:
        return self.email
