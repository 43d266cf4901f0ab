"""Working with a configuration's JSON Schema on the client's side (what `config-service schema`
runs): importing the application's settings class by `module:attribute`, checking a document
against a schema before sending it, and generating a pydantic model from a schema.

The client depends on httpx only; checking needs the `schema` extra (jsonschema-rs, the
validator the service uses, with the same options: formats asserted, nothing fetched), and
generating needs the `codegen` extra (datamodel-code-generator)::

    pip install 'config-service-client[schema]'    # violations()
    pip install 'config-service-client[codegen]'   # generate_model()

Without them those functions raise `MissingExtra`, saying what to install.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import Any

from config_client.errors import ErrorDetail

__all__ = ["MissingExtra", "generate_model", "import_model", "require", "violations"]

log = logging.getLogger("config_client")

# extra -> (the module it brings, what it is for)
EXTRAS = {
    "schema": ("jsonschema_rs", "checking a document against a schema"),
    "codegen": ("datamodel_code_generator", "generating a model from a schema"),
}


class MissingExtra(ImportError):
    """An optional part of the client is not installed; the message says how to install it."""


def require(extra: str) -> ModuleType:
    """The module that the extra `schema` or `codegen` brings; MissingExtra when it is not
    installed (checked before anything is asked of the service)."""
    module, purpose = EXTRAS[extra]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{purpose} needs the client's {extra!r} extra ({module} cannot be imported: {exc}); "
            f"install it with: pip install 'config-service-client[{extra}]'"
        ) from None


# -- the application's settings class ---------------------------------------------------------


def import_model(spec: str, directory: str | os.PathLike[str] = ".") -> type:
    """The class that `spec` names, as `package.module:Class` (an attribute path after the
    colon, `module:Outer.Inner`, works too), imported the way uvicorn imports an app: with
    `directory` (the current one) first on sys.path while importing. ValueError, saying why,
    when it cannot be imported or is not a pydantic model class."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"name a model as module:attribute (package.settings:Settings), not {spec!r}")
    where = os.path.abspath(directory)
    sys.path.insert(0, where)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ValueError(f"no module named {module_name!r} (looked in {where} and on sys.path)") from None
        raise ValueError(f"importing {module_name} failed: {exc}") from None
    except Exception as exc:  # whatever the application's module raises while it loads
        raise ValueError(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from None
    finally:
        with contextlib.suppress(ValueError):  # the module may have changed sys.path itself
            sys.path.remove(where)
    found: Any = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"{module_name} has no attribute {attribute!r}") from None
    if not isinstance(found, type) or not callable(getattr(found, "model_json_schema", None)):
        raise ValueError(f"{spec} is not a pydantic model class (it has no model_json_schema)")
    return found


# -- checking a document ----------------------------------------------------------------------


def _pointer(path: Any) -> str:
    """A JSON Pointer (RFC 6901) from the keys and indexes leading to a value."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def violations(schema: dict[str, Any], document: Any) -> list[ErrorDetail]:
    """Every violation of `schema` by `document`, sorted by path, as the service reports them:
    each with its `path` (a JSON Pointer into the document; "" is the document itself),
    `keyword` and `message` (`location` is empty). An empty list: the document satisfies it.

    As in the service, formats are asserted and nothing is fetched: ValueError when the schema
    is not valid or refers to another document. Needs the `schema` extra (MissingExtra)."""
    jsonschema_rs = require("schema")
    fetched: list[str] = []

    def refuse(uri: str) -> Any:
        fetched.append(uri)
        raise LookupError("no schema is fetched")

    try:
        validator = jsonschema_rs.validator_for(schema, validate_formats=True, retriever=refuse)
    except jsonschema_rs.ValidationError as exc:
        if fetched:
            raise ValueError(f"the schema refers to {fetched[0]}, which is never fetched") from None
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    except ValueError as exc:  # e.g. a malformed regular expression
        raise ValueError(f"not a valid JSON Schema: {exc}") from None
    found = [
        ErrorDetail("", error.message, _pointer(error.instance_path), error.kind.name)
        for error in validator.iter_errors(document)
    ]
    return sorted(found, key=lambda detail: (detail.path or "", detail.keyword or ""))


# -- generating a model -----------------------------------------------------------------------


def generate_model(schema: dict[str, Any], class_name: str = "Settings", header: str | None = None) -> str:
    """Python source of pydantic v2 models for `schema`, the root one named `class_name`: as
    strict as the schema where pydantic can say it (constraints as `Field(...)`, enums as
    `Literal`, a field is nullable only when the schema allows null), for the Python that runs
    this. What the generator cannot carry over it warns about, logged as warnings. `header`: a
    comment for the top of the file (each line starting with `#`).

    Needs the `codegen` extra (MissingExtra); ValueError when no model can be made of it."""
    generator = require("codegen")
    from datamodel_code_generator.format import Formatter

    try:
        target = generator.PythonVersion(f"{sys.version_info.major}.{sys.version_info.minor}")
    except ValueError:  # a Python the generator does not know: its default
        target = None
    options: dict[str, Any] = {
        "input_file_type": generator.InputFileType.JsonSchema,
        "output_model_type": generator.DataModelType.PydanticV2BaseModel,
        "class_name": class_name,
        "custom_file_header": header,
        "disable_timestamp": True,
        "allow_remote_refs": False,
        "formatters": [Formatter.BUILTIN],
        "enum_field_as_literal": generator.LiteralType.All,
        "use_annotated": True,
        "field_constraints": True,
        "strict_nullable": True,
        "use_schema_description": True,
        "use_double_quotes": True,
        "keep_model_order": True,
    }
    if target is not None:
        options["target_python_version"] = target
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = generator.generate(json.dumps(schema), **options)
        except generator.Error as exc:
            raise ValueError(f"no model can be generated from the schema: {exc}") from None
    for warning in caught:
        if not issubclass(warning.category, (DeprecationWarning, FutureWarning)):  # the generator's own plans
            log.warning("codegen: %s", warning.message)
    if not isinstance(code, str):  # one module is asked for; several would be a dict of them
        raise ValueError("the schema makes more than one module, which codegen does not write")
    return code if code.endswith("\n") else code + "\n"
