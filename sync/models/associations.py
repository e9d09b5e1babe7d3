"""Associations a push job makes in HubSpot, and the association made for each record.

One rule: a `SyncAssociation` says where a record's other side comes from
(a foreign-key column, resolved through the job that syncs the referenced
table, or a column holding the other record's HubSpot id); a
`SyncAssociationLink` remembers what was made for one record, so a run
creates an association once, and again only when the record's other side
changed.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from sync.models.jobs import SyncJob

# HubSpot's primary association types (HUBSPOT_DEFINED), by (from type, to type).
PRIMARY_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}


class AssociationCategory(models.TextChoices):
    """Who defined an association type."""

    HUBSPOT_DEFINED = "HUBSPOT_DEFINED", "HubSpot-defined"
    USER_DEFINED = "USER_DEFINED", "user-defined (a custom label)"
    INTEGRATOR_DEFINED = "INTEGRATOR_DEFINED", "integrator-defined"


class SyncAssociation(models.Model):
    """An association each record of a job gets: from a column to a record of another type.

    With `to_job`, the column holds a key of the table that job syncs (a
    foreign key, e.g. `people.company_id` → the companies job), and the other
    record's HubSpot id is the one that job recorded; without it, the column
    holds the HubSpot id of a `to_object_type` record. No `type_id`: the
    pair's primary type when HubSpot defines one, else HubSpot's default.
    """

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="associations")
    column = models.CharField(
        max_length=63, help_text="The column that names the other record (e.g. company_id)."
    )
    to_job = models.ForeignKey(
        SyncJob,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="associated_from",
        help_text="The job that syncs the table the column points to.",
    )
    to_object_type = models.CharField(
        max_length=128,
        blank=True,
        help_text="Without a job: the object type whose HubSpot record id the column holds.",
    )
    category = models.CharField(
        max_length=32,
        choices=AssociationCategory.choices,
        default=AssociationCategory.HUBSPOT_DEFINED,
    )
    type_id = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The association type id; empty: the pair's primary type (contact→company 1, "
        "company→contact 2, deal→contact 3, deal→company 5), else HubSpot's default.",
    )
    replace = models.BooleanField(
        default=True,
        help_text="When the column changes, also remove the association to the old record.",
    )

    class Meta:
        ordering = ("pk",)
        verbose_name = "association"
        constraints = (
            models.UniqueConstraint(fields=("job", "column"), name="association_one_per_column"),
        )

    def __str__(self) -> str:
        return f"{self.job}.{self.column} → {self.target_type() or '?'}"

    def target_type(self) -> str:
        """The object type of the other side ("" when neither a job nor a type is set)."""
        if self.to_job is not None:
            return self.to_job.object_type
        return self.to_object_type

    def clean(self) -> None:
        """Require exactly one of a job and an object type, and a type id for custom categories."""
        if (self.to_job_id is None) == (not self.to_object_type):
            raise ValidationError(
                "Name either the job that syncs the referenced table or an object type.",
                code="invalid",
            )
        if self.category != AssociationCategory.HUBSPOT_DEFINED and self.type_id is None:
            raise ValidationError(
                {"type_id": "A user- or integrator-defined association needs its type id."},
                code="required",
            )


class SyncAssociationLink(models.Model):
    """The association made for one record (`linked`), or why it waits (`message`)."""

    association = models.ForeignKey(SyncAssociation, on_delete=models.CASCADE, related_name="links")
    record_key = models.CharField(max_length=512)
    target = models.CharField(max_length=512, help_text="The column's value.")
    from_id = models.CharField(max_length=64, blank=True)
    to_id = models.CharField(max_length=64, blank=True)
    linked = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "association link"
        constraints = (
            models.UniqueConstraint(
                fields=("association", "record_key"), name="associationlink_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.association_id}: {self.record_key} → {self.target}"
