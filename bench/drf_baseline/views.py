"""The ModelViewSet of the DRF baseline: limit/offset pages, a company filter, bulk create."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, viewsets
from rest_framework.pagination import LimitOffsetPagination

from bench.drf_baseline.models import Contact
from bench.drf_baseline.serializers import ContactSerializer


class ContactPagination(LimitOffsetPagination):
    """`?limit=&offset=` pages of up to 10,000 rows (100 when no limit is given)."""

    default_limit = 100
    max_limit = 10_000


class ContactViewSet(viewsets.ModelViewSet[Contact]):
    """CRUD over contacts, ordered by id; `?company_id=N` filters the list.

    POST of a JSON array creates every record at once (`ContactListSerializer`).
    """

    serializer_class = ContactSerializer
    pagination_class = ContactPagination

    def get_queryset(self) -> QuerySet[Contact]:
        queryset = Contact.objects.order_by("id")
        company_id = self.request.query_params.get("company_id")
        if company_id is not None and company_id.isdigit():
            queryset = queryset.filter(company_id=int(company_id))
        return queryset

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[Contact]:
        # The usual way to take a list on the create endpoint: a list body is many records.
        if isinstance(kwargs.get("data"), list):
            kwargs["many"] = True
        return super().get_serializer(*args, **kwargs)
