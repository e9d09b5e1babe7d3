"""Admin widgets for access rules: a column picker that knows the rule's table when it can.

One rule: whichever way a column list is rendered (checkboxes or text), it is
read back the same way, as a list of strings, so a form rendered with one
widget and posted back under another still means the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.forms.renderers import BaseRenderer
from django.utils.datastructures import MultiValueDict
from django.utils.safestring import SafeString


def split_names(values: Any) -> list[str]:
    """Return the names in `values` (a string or a list of strings, each maybe comma-separated).

    Blank items are dropped; each name is kept once, in order.
    """
    items = values if isinstance(values, list | tuple) else [values]
    names: list[str] = []
    for item in items:
        if item is None:
            continue
        for part in str(item).split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    return names


class ColumnPicker(forms.Widget):
    """Checkboxes of a table's columns when `columns` is set, else a comma-separated text input.

    A stored name the table no longer has is still shown (checked, marked), so
    saving the form does not silently drop it and validation can name it.
    """

    def __init__(self, attrs: dict[str, Any] | None = None, columns: Sequence[str] = ()) -> None:
        super().__init__(attrs)
        self.columns: tuple[str, ...] = tuple(columns)

    def value_from_datadict(
        self, data: Mapping[str, Any], files: MultiValueDict[str, Any], name: str
    ) -> list[str]:
        getlist = getattr(data, "getlist", None)
        raw = getlist(name) if getlist is not None else data.get(name)
        return split_names(raw)

    def value_omitted_from_data(
        self, data: Mapping[str, Any], files: MultiValueDict[str, Any], name: str
    ) -> bool:
        return False  # no box ticked is a value: every column

    def use_required_attribute(self, initial: Any) -> bool:
        return False

    def id_for_label(self, id_: str) -> str:
        # A group of checkboxes has no single element a <label for> can name.
        return "" if self.columns else id_

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: BaseRenderer | None = None,
    ) -> SafeString:
        names = split_names(value)
        if self.columns:
            extra = [(column, f"{column} (not in the table)") for column in names]
            choices = [(column, column) for column in self.columns] + [
                choice for choice in extra if choice[0] not in self.columns
            ]
            boxes = forms.CheckboxSelectMultiple(
                attrs={**self.attrs, "class": "sg-columns"}, choices=choices
            )
            return boxes.render(name, names, attrs, renderer)
        text = forms.TextInput(attrs={"size": 60, "placeholder": "every column", **self.attrs})
        return text.render(name, ", ".join(names), attrs, renderer)
