"""Messages: what estimators and inference routines tell their user, as a key and numbers.

An estimator never formats a sentence for the report. It attaches a :class:`Message`:
a stable ``key`` (``"did.few_treated_clusters"``) and its ``params`` (numbers, column
names). The words of every key, in English and Chinese, live in one place, the catalogue
:mod:`policylab.message_catalogue`; the report words a message in its language by key
(``policylab.report.labels.message_text``), with column names through the spec's labels.

A Message *is* a ``str``: its English sentence for the Python user (which may name the
functions and arguments to use). So ``result.warnings`` prints, compares, matches and
serialises as before, and ``warnings.warn(message)`` shows that sentence.

This module sits low (a utility, like :mod:`policylab.validation`) so that results can
read as English without importing report; report imports it, never the other way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from policylab.message_catalogue import CATALOGUE, Wording

_DOUBLE_STOP = re.compile(r"。。|(?<!\.)\.\.(?!\.)")

__all__ = ["Message", "Wording", "message_from_record", "message_key", "message_record",
           "reason_of", "render"]


class Message(str):
    """A message with a stable key and its parameters; as a ``str``, its English
    sentence for the Python API.

    Parameters
    ----------
    key
        A key of :data:`policylab.message_catalogue.CATALOGUE`.
    **params
        The numbers and names the sentence is built from.

    Examples
    --------
    >>> m = Message("placebo.few_draws", n=199, step=200)
    >>> m.key, dict(m.params)
    ('placebo.few_draws', {'n': 199, 'step': 200})
    >>> str(m)
    'only 199 placebo draws: p-values move in steps of 1/200'
    >>> render(m, "zh")
    '安慰剂抽样仅199次：p值的精度有限。'
    """

    _key: str
    _params: Mapping[str, Any]

    def __new__(cls, key: str, /, **params: Any) -> Message:
        wording = _wording(key)
        text = (wording.api.format(**_api_params(params)) if wording.api is not None
                else _fill(wording.en, params, "en", wording, None, api=True))
        self = super().__new__(cls, text)
        self._key = key
        self._params = MappingProxyType(dict(params))
        return self

    @property
    def key(self) -> str:
        """The catalogue key."""
        return self._key

    @property
    def params(self) -> Mapping[str, Any]:
        """The numbers and names the sentence is built from (read-only)."""
        return self._params

    def __reduce__(self) -> tuple[Any, ...]:
        # processes (the execution layer) and deepcopy rebuild it from key and params
        return (_rebuild, (self._key, dict(self._params)))


def _rebuild(key: str, params: dict[str, Any]) -> Message:
    return Message(key, **params)


def _api_params(params: Mapping[str, Any]) -> dict[str, Any]:
    # the API's English shows params as Python does, except a list of messages (the
    # parts of a reason), which reads as its sentences joined by "; "
    return {k: "; ".join(map(str, v)) if isinstance(v, list) and v
            and all(isinstance(s, Message) for s in v) else v for k, v in params.items()}


def reason_of(exc: BaseException) -> str:
    """An exception's reason: the :class:`Message` it was raised with, else its text
    (so a step that did not run can say why in the report's language)."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, Message) else str(exc)


def message_key(text: object) -> str | None:
    """The catalogue key of ``text`` when it is a :class:`Message`, else None."""
    return text.key if isinstance(text, Message) else None


def message_record(text: object) -> dict[str, Any] | None:
    """``{"key": ..., "params": {...}}`` of a :class:`Message` (a param that is itself a
    message, or a list of them, as its own record), None for text without a key.

    The machine-readable twin of a warning's text in results.json (``warning_keys``):
    enough to word it again in any language with the catalogue.

    Examples
    --------
    >>> message_record(Message("placebo.few_draws", n=199, step=200))
    {'key': 'placebo.few_draws', 'params': {'n': 199, 'step': 200}}
    >>> message_record("a library's own warning") is None
    True
    """
    if not isinstance(text, Message):
        return None

    def param(v: Any) -> Any:
        if isinstance(v, Message):
            return message_record(v)
        if isinstance(v, (list, tuple)) and any(isinstance(x, Message) for x in v):
            return [param(x) for x in v]
        return v

    return {"key": text.key, "params": {k: param(v) for k, v in text.params.items()}}


def message_from_record(record: Mapping[str, Any]) -> Message:
    """The :class:`Message` of a :func:`message_record` (e.g. read back from
    results.json), to word it in another language with :func:`render`."""

    def param(v: Any) -> Any:
        if isinstance(v, Mapping) and set(v) == {"key", "params"}:
            return message_from_record(v)
        if isinstance(v, list) and v and all(isinstance(x, Mapping) and set(x) == {"key", "params"}
                                             for x in v):
            return [message_from_record(x) for x in v]
        return v

    return Message(record["key"], **{k: param(v) for k, v in record["params"].items()})


def _wording(key: str) -> Wording:
    try:
        return CATALOGUE[key]
    except KeyError:
        raise KeyError(f"no message {key!r} in policylab.message_catalogue.CATALOGUE; "
                       "add its English and Chinese words there") from None


def render(message: Message, lang: str = "en",
           name: Callable[[str, str], str] | None = None) -> str:
    """The message in the reader's words.

    Parameters
    ----------
    message
        The message.
    lang
        ``"en"`` or ``"zh"`` (anything else: English).
    name
        ``name(kind, value)`` -> display text of a column name (kind ``"name"``), an
        assignment level (``"level"``) or a category (``"category:<column>"``); None
        shows them as they are.
    """
    wording = _wording(message.key)
    template = wording.zh if lang == "zh" else wording.en
    return _one_stop(_fill(template, message.params, lang, wording, name))


def _one_stop(text: str) -> str:
    # a reason that is a sentence of its own ends where the sentence quoting it ends:
    # "未运行：……运行。。" reads "……运行。" (an ellipsis "..." is left alone)
    return _DOUBLE_STOP.sub(lambda m: m.group(0)[0], text)


def _fill(template: str, params: Mapping[str, Any], lang: str, wording: Wording,
          name: Callable[[str, str], str] | None, api: bool = False) -> str:
    """The template filled for a reader (lists joined, names shown by ``name``, nested
    messages in the same words); ``api``: nested messages as their API English."""

    def nested(m: Message) -> str:
        return str(m) if api else render(m, lang, name)

    sep = "、" if lang == "zh" else ", "
    parts: dict[str, Any] = {}
    for k, v in params.items():
        kind = ("name" if k in wording.names else "level" if k in wording.levels
                else f"category:{params.get(wording.categories[k])}"
                if k in wording.categories else None)
        if isinstance(v, Message):  # a reason that is itself a message
            parts[k] = nested(v)
        elif kind is not None:
            vals = list(v) if isinstance(v, (list, tuple)) else [v]
            shown = [name(kind, str(s)) if name else str(s) for s in vals]
            parts[k] = sep.join(shown)
        elif isinstance(v, list):  # a list reads as words; a tuple (a window) as is
            parts[k] = sep.join(nested(s) if isinstance(s, Message) else str(s) for s in v)
        else:
            parts[k] = v
    return template.format(**parts)
