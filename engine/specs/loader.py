"""Loading YAML documents into pydantic models, with every problem placed at file:line.

The loader is generic: a :class:`DocumentKind` says which model a ``kind`` maps to, how
to *prepare* the raw data before validation (AnalysisTemplate resolves library presets
there) and which *checks* to run on the validated model (rules that relate fields). The
same code serves AnalysisTemplate and RolloutPlan: register the kind, and ``auspice
validate`` and :func:`load_file` know it.

Some files users write have no ``apiVersion``/``kind`` because their format is fixed by
where they go (the ``auspice serve`` configuration, the tokens document, the cluster
labels file). Their kind has a ``recognise`` test on the top-level keys instead, so
``auspice validate`` checks them too before they are deployed.

A load collects every finding of a document (duplicate keys, pydantic errors, checks)
before raising one :class:`SpecError`, so a user fixes a file in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from auspice.specs.problems import Finding, Problem, SpecError
from auspice.specs.pydantic_errors import findings_from
from auspice.specs.yamlpos import YamlDocument, load_yaml_file, load_yaml_text

M = TypeVar("M", bound=BaseModel)

Prepare = Callable[[Any], tuple[Any, list[Finding]]]
Check = Callable[[Any], list[Finding]]


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """How to load one ``apiVersion``/``kind`` of document."""

    api_version: str
    kind: str
    model: type[BaseModel]
    prepare: Prepare | None = None
    check: Check | None = None
    check_invalid: Callable[[Any], list[Finding]] | None = None  # on data that failed
    #: For a document without apiVersion/kind: does this mapping look like one?
    recognise: Callable[[dict[str, Any]], bool] | None = None


_KINDS: dict[str, DocumentKind] = {}
_KINDLESS: dict[str, DocumentKind] = {}


def register_kind(kind: DocumentKind) -> None:
    """Make ``kind`` known to :func:`parse_any` and ``auspice validate``."""
    (_KINDLESS if kind.recognise is not None else _KINDS)[kind.kind] = kind


def registered_kinds() -> dict[str, DocumentKind]:
    return dict(_KINDS)


def kind_for_model(model: type[BaseModel]) -> DocumentKind:
    """The registered kind of ``model``, or a bare one (no prepare, no checks)."""
    for kind in (*_KINDS.values(), *_KINDLESS.values()):
        if kind.model is model:
            return kind
    return DocumentKind(api_version="", kind=model.__name__, model=model)


def parse_document(document: YamlDocument, kind: DocumentKind) -> BaseModel:
    """Validate one YAML document as ``kind``; raise :class:`SpecError` with all problems."""
    findings = list(document.findings)
    data, prepared = document.data, document.data
    if kind.prepare is not None and isinstance(data, dict):
        prepared, more = kind.prepare(data)
        findings.extend(more)
    result: BaseModel | None = None
    try:
        result = kind.model.model_validate(prepared)
    except ValidationError as error:
        findings.extend(findings_from(error, prepared, kind.model))
        if kind.check_invalid is not None:
            findings.extend(kind.check_invalid(prepared))
    if result is not None and kind.check is not None:
        findings.extend(kind.check(result))
    if findings:
        raise SpecError(_placed(document, findings))
    assert result is not None
    return result


def parse_any(document: YamlDocument) -> BaseModel:
    """Validate a document as whatever its ``kind`` says (see :func:`register_kind`)."""
    return parse_document(document, dispatch(document))


def dispatch(document: YamlDocument) -> DocumentKind:
    """The registered kind of ``document``; :class:`SpecError` if it has none."""
    data = document.data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        finding = Finding(
            (),
            f"the document is {what}, not a mapping",
            "start it with 'apiVersion: auspice.dev/v1alpha1' and 'kind: ...'",
        )
        raise SpecError([document.problem(finding)])
    kinds = ", ".join(sorted(_KINDS)) or "none registered"
    name = data.get("kind")
    if name is None and "apiVersion" not in data:
        for kind in _KINDLESS.values():
            if kind.recognise is not None and kind.recognise(data):
                return kind
        kinds += "; or a file without them: " + ", ".join(sorted(_KINDLESS))
    if name not in _KINDS:
        message = "'kind' is missing" if name is None else f"unknown kind {name!r}"
        raise SpecError([document.problem(Finding(("kind",), message, f"use one of: {kinds}"))])
    kind = _KINDS[name]
    if data.get("apiVersion") != kind.api_version:
        finding = Finding(
            ("apiVersion",),
            f"apiVersion {data.get('apiVersion')!r} is not supported for {name}",
            f"write 'apiVersion: {kind.api_version}'",
        )
        raise SpecError([document.problem(finding)])
    return kind


def parse_text(text: str, model: type[M], *, source: str = "<string>") -> list[M]:
    """Every document of ``text`` loaded as ``model`` (kind checks and presets included)."""
    return _load(load_yaml_text(text, source=source), model)


def load_file(path: str | Path, model: type[M]) -> list[M]:
    """Every document of the YAML file at ``path`` loaded as ``model``.

    This is the generic loader for any user-written document kind; problems from all
    documents are gathered into one :class:`SpecError`.
    """
    return _load(load_yaml_file(path), model)


def model_from_data(data: Any, model: type[M], *, source: str = "<data>") -> M:
    """Validate already-parsed data (a dict from JSON, a test) with the same checks."""
    document = YamlDocument(source=source, index=0, data=data)
    return _typed(parse_document(document, kind_for_model(model)), model)


def _load(documents: Iterable[YamlDocument], model: type[M]) -> list[M]:
    kind = kind_for_model(model)
    results: list[M] = []
    problems: list[Problem] = []
    for document in documents:
        if document.data is None:
            continue  # an empty document (a trailing '---') is not a mistake
        try:
            if kind.api_version:
                dispatch(document)  # wrong kind or apiVersion for this model
            results.append(_typed(parse_document(document, kind), model))
        except SpecError as error:
            problems.extend(error.problems)
    if problems:
        raise SpecError(problems)
    return results


def _typed(value: BaseModel, model: type[M]) -> M:
    if not isinstance(value, model):  # dispatch picked another kind than asked for
        raise TypeError(f"expected {model.__name__}, loaded {type(value).__name__}")
    return value


def _placed(document: YamlDocument, findings: list[Finding]) -> list[Problem]:
    problems = [document.problem(finding) for finding in findings]
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.column or 0))
