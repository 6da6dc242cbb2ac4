"""Context a tool adds to what it reports: the warnings it raised (kept with the results) and which target failed."""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import _schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from anndata import AnnData

__all__ = ["failed_target", "fitting", "records_warnings"]

_NOTE = "while fitting target {target!r}"
_NOTE_RE = re.compile(r"^while fitting target '(.*)'$")


def records_warnings(fn: Callable[..., AnnData | None]) -> Callable[..., AnnData | None]:
    """Wrap a ``tl`` function so that the warnings it raises are also written to ``uns[key_added]``.

    Warnings pass through the caller's filters exactly as without the wrapper (they are shown,
    turned into errors or ignored at the place they are raised); the wrapper only sees those that
    are shown, and writes their messages with :func:`scsparseot._schema.write_warnings` once the
    function has written its results. A call that raises writes nothing. Warnings raised inside
    executor worker processes are not seen. Not thread-safe: warnings shown by other threads during
    the call are recorded too (Python's warning machinery is process-global).
    """
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> AnnData | None:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        messages: list[str] = []
        with warnings.catch_warnings():  # restores showwarning on exit
            shown = warnings.showwarning

            def tee(message: Warning | str, *rest: Any, **kw: Any) -> None:
                messages.append(str(message))
                shown(message, *rest, **kw)

            warnings.showwarning = tee
            out = fn(*args, **kwargs)
        _schema.write_warnings(
            bound.arguments["adata"] if out is None else out, bound.arguments["key_added"], messages
        )
        return out

    return wrapper


@contextmanager
def fitting(target: str) -> Iterator[None]:
    """Add a note naming ``target`` to any exception raised inside (its type and message are kept).

    The note (PEP 678 ``__notes__``; set by hand before Python 3.11) is shown under the traceback
    and read back by :func:`failed_target`, so that a caller can say which target's fit failed.
    """
    try:
        yield
    except Exception as err:
        note = _NOTE.format(target=str(target))
        if hasattr(err, "add_note"):
            err.add_note(note)
        else:  # pragma: no cover - Python 3.10
            err.__notes__ = [*getattr(err, "__notes__", []), note]
        raise


def failed_target(err: BaseException) -> str | None:
    """The target whose fit raised ``err`` (from the note :func:`fitting` added), or ``None``."""
    for note in getattr(err, "__notes__", ()):
        match = _NOTE_RE.match(str(note))
        if match:
            return match.group(1)
    return None
