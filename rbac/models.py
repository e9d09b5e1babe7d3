"""Models of `rbac`: the platform's own state about who may call the API."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AdminApiKey(models.Model):
    """An API key that acts as a superuser: for operators, automation and benchmarks.

    Only the SHA-256 digest of the key is stored; the key itself is shown once,
    when `manage.py create_admin_key` creates it. Keys of a user who is no
    longer an active superuser stop working.
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_api_keys"
    )
    prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to tell keys apart."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "admin API key"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
