"""Probe payloads as trees of plain values plus a list of raw arrays, and back, executing nothing.

A payload (a tree of allowed dataclasses, tuples, lists, dicts, numbers, strings and arrays)
becomes a JSON-able tree in which an array is `{"$a": i}` (index into the arrays list), a tuple
`{"$t": [...]}`, a dict `{"$d": [[key, value], ...]}` and a dataclass `{"$c": name, "f": {...}}`.
Classes are rebuilt by name from `PAYLOAD_CLASSES` only, their fields checked against the
class's annotations; nothing is unpickled. Both the wire (messages to a window) and the run
store write payloads this way. Torch-free: tensors are recognised by their methods.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import numpy as np

MAX_NDIM = 8
MAX_DEPTH = 12
MAX_NODES = 100_000
DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
          "float16", "float32", "float64")
# name -> module of the dataclasses a payload may be rebuilt as (all torch-free).
PAYLOAD_CLASSES = {
    "WeightsPayload": "gpuviz_app.core.probes.weights.payload",
    "MatrixImage": "gpuviz_app.core.probes.weights.payload",
    "FilterGrid": "gpuviz_app.core.probes.weights.payload",
    "EmbeddingFrame": "gpuviz_app.core.probes.embedding.frame",
    "LandscapePayload": "gpuviz_app.core.probes.landscape.payload",
    "DistributedPayload": "gpuviz_app.core.distributed.payload",
}
NOT_MINE = object()  # what `TreeReader.node` returns for a node it does not read


class BadPayload(ValueError):
    """A payload tree that is not what an encoder writes; the text says why, in one sentence."""


def check(ok: bool, reason: str) -> None:
    if not ok:
        raise BadPayload(reason)


def is_tensor(value: Any) -> bool:
    return hasattr(value, "detach") and hasattr(value, "cpu")


def host_array(value: Any) -> np.ndarray:
    """A tensor or array as a little-endian numpy array of an allowed dtype (copied to the host)."""
    if is_tensor(value):
        value = value.detach()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.cpu().numpy()
    array = np.asarray(value, order="C")  # (ascontiguousarray would make a 0-dim array 1-dim)
    if array.dtype.name not in DTYPES:
        raise TypeError(f"gpuviz cannot send arrays of dtype {array.dtype}")
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


class TreeEncoder:
    """Writes a payload as a tree; `array_node` says how an array is written (plainly here)."""

    def value(self, value: Any, arrays: list[np.ndarray], depth: int, path: str = "") -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("gpuviz payload nested too deeply to send")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        if isinstance(value, np.ndarray) or is_tensor(value):
            return self.array_node(value, arrays, path)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            name = type(value).__name__
            if name not in PAYLOAD_CLASSES:
                raise TypeError(f"gpuviz cannot send a {name}")
            return {"$c": name, "f": {f.name: self.value(getattr(value, f.name), arrays, depth + 1,
                                                         f"{path}.{f.name}")
                                      for f in dataclasses.fields(value) if f.init}}
        if isinstance(value, tuple):
            return {"$t": [self.value(v, arrays, depth + 1, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.value(v, arrays, depth + 1, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {"$d": [[k if isinstance(k, (str, int)) else str(k),
                            self.value(v, arrays, depth + 1, f"{path}.{k}")] for k, v in value.items()]}
        raise TypeError(f"gpuviz cannot send a {type(value).__name__}")

    def array_node(self, value: Any, arrays: list[np.ndarray], path: str) -> dict:
        return add_array(host_array(value), arrays)


def add_array(array: np.ndarray, arrays: list[np.ndarray]) -> dict:
    arrays.append(array)
    return {"$a": len(arrays) - 1}


class TreeReader:
    """Rebuilds a payload tree; every node is checked, nothing is looked up but allowed names.

    `node` is where a subclass reads the node kinds it adds (returning `NOT_MINE` for others)."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays
        self.new_refs: dict[str, np.ndarray] = {}
        self.nodes = 0

    def value(self, tree: Any, depth: int) -> Any:
        self.nodes += 1
        check(depth <= MAX_DEPTH and self.nodes <= MAX_NODES, "a payload is nested too deeply or too large")
        if tree is None or isinstance(tree, (bool, int, float, str)):
            return tree
        if isinstance(tree, list):
            return [self.value(v, depth + 1) for v in tree]
        check(isinstance(tree, dict), "a payload holds a value of unknown kind")
        if "$a" in tree:
            i, key = tree["$a"], tree.get("k")
            check(is_int(i) and 0 <= i < len(self.arrays) and set(tree) <= {"$a", "k"},
                  "a payload names an array that was not sent")
            if key is not None:
                check(isinstance(key, str) and len(key) <= 64, "a payload's array key is not a short string")
                self.new_refs[key] = self.arrays[i]
            return self.arrays[i]
        found = self.node(tree, depth)
        if found is not NOT_MINE:
            return found
        check(len(tree) in (1, 2), "a payload holds an object of unknown kind")
        if "$t" in tree:
            check(isinstance(tree["$t"], list) and len(tree) == 1, "a payload's tuple is not a list")
            return tuple(self.value(v, depth + 1) for v in tree["$t"])
        if "$d" in tree:
            pairs = tree["$d"]
            check(isinstance(pairs, list) and len(tree) == 1 and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int)) and not isinstance(p[0], bool)
                for p in pairs), "a payload's mapping is not a list of [key, value] pairs")
            return {k: self.value(v, depth + 1) for k, v in pairs}
        if "$c" in tree:
            return self._dataclass(tree, depth)
        raise BadPayload("a payload holds an object of unknown kind")

    def node(self, tree: dict, depth: int) -> Any:
        return NOT_MINE

    def _dataclass(self, tree: dict, depth: int) -> Any:
        name, values = tree.get("$c"), tree.get("f")
        check(isinstance(name, str) and name in PAYLOAD_CLASSES, "a payload names a class that is not allowed")
        check(isinstance(values, dict), f"the {name}'s fields are not an object")
        cls = getattr(importlib.import_module(PAYLOAD_CLASSES[name]), name)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = set(values) - set(fields)
        check(not unknown, f"the {name} has unknown fields {sorted(unknown)[:3]}")
        missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        check(not missing, f"the {name} lacks fields {missing[:3]}")
        kwargs = {}
        for key, tree_value in values.items():
            value = self.value(tree_value, depth + 1)
            check(fits(value, str(fields[key].type)), f"the {name}'s field {key} has the wrong type")
            kwargs[key] = value
        return cls(**kwargs)



def fits(value: Any, annotation: str) -> bool:
    """Whether a decoded value fits a field's annotation (as written: `int`, `tuple[int, int]`, ...)."""
    base = annotation.split("[", 1)[0].split("|", 1)[0].strip()
    optional = "None" in annotation
    if value is None:
        return optional or base == "Any"  # a reference not known yet reads as None
    if base == "int":
        return is_int(value)
    if base == "float":
        return is_number(value)
    if base == "bool":
        return isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base == "tuple":
        return isinstance(value, tuple)
    if base == "list":
        return isinstance(value, list)
    if base == "dict":
        return isinstance(value, dict)
    if base == "np.ndarray":
        return isinstance(value, np.ndarray)
    return True  # Any: arrays, trees, anything decoded


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
