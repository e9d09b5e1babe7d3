"""The ModelSerializer of the DRF baseline: every field of `Contact`."""

from __future__ import annotations

from rest_framework import serializers

from bench.drf_baseline.models import Contact


class ContactSerializer(serializers.ModelSerializer[Contact]):
    """All columns of a contact, as DRF renders them by default."""

    class Meta:
        model = Contact
        fields = "__all__"
