"""The ModelViewSet of the DRF baseline, with limit/offset pages and a company filter."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.pagination import LimitOffsetPagination

from bench.drf_baseline.models import Contact
from bench.drf_baseline.serializers import ContactSerializer


class ContactPagination(LimitOffsetPagination):
    """`?limit=&offset=` pages of up to 10,000 rows (100 when no limit is given)."""

    default_limit = 100
    max_limit = 10_000


class ContactViewSet(viewsets.ModelViewSet[Contact]):
    """CRUD over contacts, ordered by id; `?company_id=N` filters the list."""

    serializer_class = ContactSerializer
    pagination_class = ContactPagination

    def get_queryset(self) -> QuerySet[Contact]:
        queryset = Contact.objects.order_by("id")
        company_id = self.request.query_params.get("company_id")
        if company_id is not None and company_id.isdigit():
            queryset = queryset.filter(company_id=int(company_id))
        return queryset
