"""Buttons on an admin change page that act on the object and come back to it.

One rule: a button acts only on POST (admin_view adds login and CSRF checks),
only for a user allowed to change the object, and answers by redirecting to
the change page, where its messages are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, TypeVar

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class ObjectButton:
    """One button: `name` gives the URL `<pk>/<name with dashes>/` named `<app>_<model>_<name>`."""

    name: str
    label: str
    title: str


def admin_url(model_admin: admin.ModelAdmin[Any], view: str, *args: Any) -> str:
    """Return the URL of `model_admin`'s `view` ("change", "changelist", a button's name …)."""
    opts = model_admin.opts
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_{view}",
        args=args,
        current_app=model_admin.admin_site.name,
    )


class ObjectButtonsAdmin(admin.ModelAdmin[M]):
    """A ModelAdmin whose change page shows `object_buttons`; `press` does what they say."""

    change_form_template = "admin/object_buttons_change_form.html"
    object_buttons: ClassVar[tuple[ObjectButton, ...]] = ()

    def press(self, request: HttpRequest, obj: M, name: str) -> None:
        """Do what button `name` says to `obj`, reporting through messages."""
        raise NotImplementedError

    def get_urls(self) -> list[URLPattern]:
        """Add each button's `<pk>/<name>/` before the default URLs."""
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        custom = [
            path(
                f"<path:object_id>/{button.name.replace('_', '-')}/",
                wrap(partial(self.button_view, name=button.name)),
                name=f"{prefix}_{button.name}",
            )
            for button in self.object_buttons
        ]
        return custom + super().get_urls()

    def button_view(self, request: HttpRequest, object_id: str, *, name: str) -> HttpResponse:
        """Press button `name` on one object for a POST, then go back to its change page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            label = self.opts.verbose_name
            self.message_user(request, f"No {label} with ID '{object_id}'.", messages.WARNING)
            return HttpResponseRedirect(admin_url(self, "changelist"))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        self.press(request, obj, name)
        return HttpResponseRedirect(admin_url(self, "change", quote(obj.pk)))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"object_buttons": self.object_buttons, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)
