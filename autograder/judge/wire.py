"""Evidence as plain data: what crosses from the sandbox to the judge.

The evidence step (in the sandbox) describes what the learner's objects did with these
functions; the judge (outside) reads it back with the ``as_*`` functions, which accept only
the shapes described here and raise :class:`Malformed` for anything else.  Nothing here is
executable on the way back: JSON objects, lists, numbers and strings only; tensors are their
raw bytes (little-endian, base64) with a dtype from a fixed list and a shape.

    {"kind": "tensor", "dtype": "float32", "shape": [32, 1], "data": "<base64>",
     "requires_grad": false, "numpy": false}
    {"kind": "error", "type": "RuntimeError", "message": "..."}
    {"kind": "object", "type": "dict_keys", "repr": "..."}
    {"kind": "tuple", "items": [...]}   lists and dicts are JSON lists and objects
"""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

# dtype name -> (numpy dtype, torch dtype name).  bool and integer tensors travel too.
DTYPES = {
    "float16": "<f2", "bfloat16": None, "float32": "<f4", "float64": "<f8",
    "int8": "|i1", "uint8": "|u1", "int16": "<i2", "int32": "<i4", "int64": "<i8", "bool": "|b1",
}
MAX_ELEMENTS = 4_000_000  # per tensor; the whole evidence is capped by the reader as well
MAX_DEPTH = 6
MAX_ITEMS = 256


class Malformed(ValueError):
    """Evidence that is not of the documented form (a bug, or learner code writing it)."""


# --------------------------------------------------------------------------- sandbox side


def tensor(value) -> dict:
    """A torch tensor (or NumPy array) as plain data."""
    import torch

    is_numpy = isinstance(value, np.ndarray)
    t = torch.as_tensor(value) if is_numpy else value
    requires_grad = bool(getattr(t, "requires_grad", False))
    t = t.detach()
    if t.layout != torch.strided or t.is_quantized or t.is_complex():
        return {"kind": "object", "type": f"tensor({t.layout}, {t.dtype})", "repr": ""}
    name = str(t.dtype).replace("torch.", "")
    if name not in DTYPES:
        return {"kind": "object", "type": f"tensor of {name}", "repr": ""}
    if t.numel() > MAX_ELEMENTS:
        return {"kind": "object", "type": f"tensor with {t.numel()} elements", "repr": ""}
    t = t.cpu().contiguous()
    if name == "bfloat16":
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        raw = t.numpy().astype(DTYPES[name], copy=False).tobytes()
    return {"kind": "tensor", "dtype": name, "shape": [int(size) for size in t.shape],
            "data": base64.b64encode(raw).decode("ascii"), "requires_grad": requires_grad, "numpy": is_numpy}


def error(exception: BaseException) -> dict:
    """An exception as text (no traceback: its frames are the sandbox's)."""
    try:
        message = str(exception)
    except BaseException:  # a learner's exception whose __str__ raises
        message = "(its message could not be read)"
    return {"kind": "error", "type": type(exception).__name__, "message": message[:600]}


def value(obj: Any, depth: int = 0) -> Any:
    """Any Python value as plain data: tensors and arrays by content, containers item by item,
    anything else by type name and a short repr."""
    import torch

    if obj is None or isinstance(obj, (bool, str)):
        return obj if not isinstance(obj, str) else obj[:2000]
    if isinstance(obj, int) and type(obj) in (int,):
        return obj if abs(obj) < 2**62 else float(obj)
    if isinstance(obj, float) and type(obj) is float:
        return _float(obj)
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return tensor(obj)
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return {"kind": "numpy_scalar", "type": type(obj).__name__, "value": value(obj.item())}
    if depth < MAX_DEPTH and type(obj) in (tuple, list):
        items = [value(item, depth + 1) for item in list(obj)[:MAX_ITEMS]]
        return {"kind": "tuple", "items": items} if type(obj) is tuple else {"kind": "list", "items": items}
    if depth < MAX_DEPTH and type(obj) is dict:
        return {"kind": "dict", "items": [[value(k, depth + 1), value(v, depth + 1)]
                                          for k, v in list(obj.items())[:MAX_ITEMS]]}
    try:
        text = repr(obj)[:200]
    except BaseException:
        text = ""
    return {"kind": "object", "type": type(obj).__name__, "repr": text}


def _float(number: float):
    if math.isfinite(number):
        return number
    return {"kind": "float", "value": "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")}


# --------------------------------------------------------------------------- judge side


def kind(obj: Any) -> str:
    """"tensor", "error", "object", "tuple", "list", "dict", "numpy_scalar", "float", or the JSON
    type: "none", "bool", "int", "number", "str"."""
    if isinstance(obj, dict):
        found = obj.get("kind")
        if isinstance(found, str) and found in {"tensor", "error", "object", "tuple", "list", "dict", "numpy_scalar", "float"}:
            return found
        raise Malformed(f"unknown kind {found!r}")
    if obj is None:
        return "none"
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int):
        return "int"
    if isinstance(obj, float):
        return "number"
    if isinstance(obj, str):
        return "str"
    raise Malformed(f"unexpected {type(obj).__name__}")


def as_tensor(obj: Any, what: str = "a tensor", dtype=None):
    """The torch tensor an encoding describes (a fresh tensor; float64 when ``dtype`` says so)."""
    import torch

    if kind(obj) != "tensor":
        raise Malformed(f"{what} is not a tensor")
    name = obj.get("dtype")
    shape = obj.get("shape")
    data = obj.get("data")
    if not isinstance(name, str) or name not in DTYPES or not isinstance(shape, list) or not isinstance(data, str):
        raise Malformed(f"{what}: bad tensor encoding")
    if not all(isinstance(size, int) and 0 <= size <= MAX_ELEMENTS for size in shape):
        raise Malformed(f"{what}: bad shape")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise Malformed(f"{what}: too large")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise Malformed(f"{what}: bad data")
    if name == "bfloat16":
        if len(raw) != 2 * count:
            raise Malformed(f"{what}: data does not match its shape")
        result = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16).reshape(shape)
    else:
        width = np.dtype(DTYPES[name]).itemsize
        if len(raw) != width * count:
            raise Malformed(f"{what}: data does not match its shape")
        result = torch.from_numpy(np.frombuffer(raw, dtype=DTYPES[name]).copy()).reshape(shape)
    return result.to(dtype) if dtype is not None else result


def dtype_name(obj: Any) -> str:
    if kind(obj) != "tensor":
        raise Malformed("not a tensor")
    return str(obj["dtype"])


def as_number(obj: Any, what: str = "a number") -> float:
    found = kind(obj)
    if found in {"int", "number"}:
        return float(obj)
    if found == "float":
        text = obj.get("value")
        if not isinstance(text, str) or text not in {"nan", "inf", "-inf"}:
            raise Malformed(f"{what}: bad float")
        return float(text)
    if found == "numpy_scalar":
        return as_number(obj.get("value"), what)
    raise Malformed(f"{what} is not a number")


def items(obj: Any, what: str = "a sequence") -> list:
    """The items of an encoded tuple or list."""
    if kind(obj) not in {"tuple", "list"} or not isinstance(obj.get("items"), list):
        raise Malformed(f"{what} is not a tuple or list")
    return obj["items"]


def field(record: Any, name: str, what: str = "the evidence"):
    """``record[name]`` for a JSON object the evidence step wrote (a plain dict of fields)."""
    if not isinstance(record, dict) or name not in record:
        raise Malformed(f"{what} has no {name!r}")
    return record[name]


def per_case(cases: dict, evidence: Any, name: str = "cases") -> list[tuple[dict, Any]]:
    """(case, its record) pairs: the evidence must hold one record per case, in the cases' order."""
    case_list = cases["cases"]
    records = field(evidence, name)
    if not isinstance(records, list) or len(records) != len(case_list):
        raise Malformed(f"one record per case expected in {name!r}")
    return list(zip(case_list, records))


def describe(obj: Any) -> str:
    """A few words for a value the learner returned, for a diagnosis."""
    try:
        found = kind(obj)
    except Malformed:
        return "something unreadable"
    if found == "tensor":
        prefix = "a NumPy array" if obj.get("numpy") else "a tensor"
        return f"{prefix} of shape {tuple(obj.get('shape', []))} and dtype {obj.get('dtype')}"
    if found == "error":
        return f"{obj.get('type')}: {obj.get('message')}"
    if found in {"object", "numpy_scalar"}:
        return f"a {obj.get('type')}"
    if found in {"tuple", "list"}:
        return f"a {found} of {len(obj.get('items', []))} items"
    if found == "dict":
        return "a dict"
    return {"none": "None", "bool": "a bool", "int": "an int", "number": "a float", "str": "a string",
            "float": "a float"}[found]
