"""The serializers of the DRF baseline: every field of `Contact`, and a bulk create for lists."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from bench.drf_baseline.models import Contact


class ContactListSerializer(serializers.ListSerializer[list[Contact]]):
    """A list of contacts, created with one `bulk_create` (DRF's documented multiple create)."""

    def create(self, validated_data: list[dict[str, Any]]) -> list[Contact]:
        return Contact.objects.bulk_create([Contact(**item) for item in validated_data])


class ContactSerializer(serializers.ModelSerializer[Contact]):
    """All columns of a contact, as DRF renders (and validates) them by default."""

    class Meta:
        model = Contact
        fields = "__all__"
        list_serializer_class = ContactListSerializer
