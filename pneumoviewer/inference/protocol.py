"""The messages between the app and its AI worker: frozen dataclasses, one per kind (no string-tagged tuples).

The child process (`inference.child`) receives :data:`ToChild` and sends :data:`FromChild` over a pipe (pickled);
the client (`inference.client`) turns those, plus its own queue events (:class:`Progress`, :class:`Idle`,
:class:`QueueCancelled`), into :data:`ClientEvent` for whoever drives it (the GUI's QThread re-emits them as
signals). In thread mode the client produces the very same events without a pipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pneumoviewer.core.types import ModelInfo, Prediction


# ------------------------------------------------------------------------------------------------ app → child
@dataclass(frozen=True)
class Init:
    """First message: which bundle to load (`engine_factory` replaces InferenceEngine, e.g. a tiny test engine)."""

    bundle_dir: str | None
    engine_factory: Any = None


@dataclass(frozen=True)
class Predict:
    image_id: str
    path: str


@dataclass(frozen=True)
class Cancel:
    """Drop every request not started yet (each answered with :class:`Dropped`)."""


@dataclass(frozen=True)
class Quit:
    pass


# ------------------------------------------------------------------------------------------------ child → app
@dataclass(frozen=True)
class ModelLoading:
    """The manifest is read (before TensorFlow loads): which model is coming."""

    model: ModelInfo


@dataclass(frozen=True)
class Ready:
    """The model is loaded and warmed up on `device` ('CPU', 'GPU: …')."""

    device: str


@dataclass(frozen=True)
class Fatal:
    """No model (bad bundle, no TensorFlow, the child died): the app goes on without AI."""

    message: str


@dataclass(frozen=True)
class Result:
    prediction: Prediction


@dataclass(frozen=True)
class Failed:
    """One image could not be predicted; the worker goes on with the next."""

    image_id: str
    message: str


@dataclass(frozen=True)
class Dropped:
    """A request removed by :class:`Cancel` before it started."""

    image_id: str


# ------------------------------------------------------------------------------------------------ client → caller
@dataclass(frozen=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True)
class Idle:
    """Nothing queued, nothing in flight."""


@dataclass(frozen=True)
class QueueCancelled:
    """A cancel has settled: nothing more will arrive until new images are queued."""


ToChild = Init | Predict | Cancel | Quit
FromChild = ModelLoading | Ready | Fatal | Result | Failed | Dropped
ClientEvent = ModelLoading | Ready | Fatal | Result | Failed | Progress | Idle | QueueCancelled


def describe_error(exc: BaseException) -> str:
    """One line for the status bar / worklist: a ValueError's own message (bad input), else `Type: message`."""
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"
