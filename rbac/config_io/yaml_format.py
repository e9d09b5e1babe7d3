"""YAML reading and writing for configuration documents.

One rule: only YAML's safe subset is read or written, and a key given twice
in one mapping is an error rather than silently the last one.
"""

from __future__ import annotations

from typing import Any

import yaml

from rbac.config_io.document import ConfigError


class FlowMap(dict[str, Any]):
    """A small mapping written on one line: `{env: VAR}`, `{app: portal}`."""


class _Dumper(yaml.SafeDumper):
    """Writes lists of scalars and `FlowMap`s on one line, multi-line text as a block."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_flow_map(dumper: yaml.SafeDumper, data: FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(FlowMap, _represent_flow_map)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) and key in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError("", f"line {line}: key {key!r} is given twice in one mapping")
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def yaml_dump(data: Any) -> str:
    """Return `data` as YAML, keys in the order given."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def yaml_load(text: str) -> Any:
    """Return the data of YAML `text`. Raises ConfigError when it is not valid YAML."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as error:
        raise ConfigError("", f"not valid YAML: {error}") from None
