"""The sink interface, the motion frame it consumes, a drop-oldest queue and the sink registry.

A *sink* delivers the generated motion somewhere outside the process: a VMC receiver, VTube Studio,
a virtual camera, the speakers. Generation must never wait for a sink, so:

- ``Sink.submit`` never blocks: sinks that do I/O run their own thread (or asyncio task) and take
  frames from a bounded :class:`DropOldestQueue`; when the consumer is slower than 25 fps the
  *oldest* queued frame is discarded (a stale pose is worthless) and counted in ``stats.dropped``;
- failures inside a sink are logged (rate-limited) and counted in ``stats.errors``; they never
  propagate into the generator.

Sinks are created by name from the CLI (``--sink vmc:port=39540``) or from session config
(``{"name": "vmc", "port": 39540}``) through :func:`create_sink`; :func:`parse_sink_spec` and
:func:`coerce_options` turn CLI strings into typed keyword options using the sink's signature.
"""

from __future__ import annotations

import abc
import importlib
import inspect
import logging
import threading
import time
import typing
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from models.motion.arkit import ARKIT_DIM, ArkitSpace
from models.options import convert_option, parse_named_spec

log = logging.getLogger(__name__)

T = TypeVar("T")

PIP_HINT = "pip install 'avatar-forcing[sinks]'"


# --------------------------------------------------------------------------------------------- errors
class SinkError(RuntimeError):
    """Base class of sink errors."""


class SinkUnavailableError(SinkError):
    """A sink cannot run here: a package, a system library, a device or a backend is missing.

    The message always says what to install or which devices exist.
    """


class SinkConfigError(SinkError, ValueError):
    """Unknown sink name or option, or an option value of the wrong type."""


class QueueClosedError(Exception):
    """Raised by :meth:`DropOldestQueue.get` once the queue is closed."""


class QueueEmptyError(Exception):
    """Raised by :meth:`DropOldestQueue.get` when the timeout passes with nothing queued."""


# --------------------------------------------------------------------------------------------- frames
@dataclass(frozen=True, slots=True)
class MotionFrame:
    """One generated frame of the ``arkit`` motion space.

    Attributes:
        index: frame number in the stream (25 fps: frame ``i`` covers ``i / 25`` s).
        timestamp: seconds on the avatar-audio clock (the time of the avatar audio this frame
            belongs to); sinks use it for VMC's ``/VMC/Ext/T`` and for A/V alignment.
        values: ``(58,)`` float32 ARKit vector (52 blendshapes 0..1, HeadYaw/Pitch/Roll degrees,
            HeadX/Y/Z cm; see :mod:`models.motion.arkit`). Stored as a read-only copy, so a frame can
            be shared between sink threads safely.
    """

    index: int
    timestamp: float
    values: np.ndarray

    def __post_init__(self) -> None:
        arr = np.array(self.values, dtype=np.float32, copy=True).reshape(-1)
        if arr.shape != (ARKIT_DIM,):
            raise ValueError(
                f"MotionFrame.values must have {ARKIT_DIM} ARKit channels, got shape {arr.shape}"
            )
        arr.flags.writeable = False
        object.__setattr__(self, "values", arr)
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "timestamp", float(self.timestamp))

    @classmethod
    def from_named(cls, index: int, timestamp: float, channels: Mapping[str, float]) -> MotionFrame:
        """A frame from named channels (any ARKit spelling); missing channels are neutral (0)."""
        return cls(index, timestamp, ArkitSpace.from_dicts([channels])[0])

    def named(self) -> dict[str, float]:
        """``{PascalCase name: python float}`` for all 58 channels."""
        return ArkitSpace.to_dict(self.values)


# --------------------------------------------------------------------------------------------- stats
@dataclass(frozen=True)
class SinkStats:
    """A snapshot of a sink's counters.

    Attributes:
        sent: items delivered (frames, bundles, images, audio blocks; see each sink).
        dropped: items discarded because the sink was slower than the producer (or not running).
        errors: failed deliveries and protocol errors.
        extra: sink-specific counters (reconnects, re-sends, underruns, ...).
    """

    sent: int = 0
    dropped: int = 0
    errors: int = 0
    extra: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "dropped": self.dropped, "errors": self.errors, **self.extra}


class Counters:
    """Thread-safe named integer counters behind :class:`SinkStats`."""

    CORE = ("sent", "dropped", "errors")

    def __init__(self, *extra: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = dict.fromkeys((*self.CORE, *extra), 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def get(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> SinkStats:
        with self._lock:
            values = dict(self._values)
        core = {k: values.pop(k) for k in self.CORE}
        return SinkStats(extra=values, **core)


class RateLimitedLog:
    """Log the first failure at once and later ones at most every ``interval`` seconds (with a count)."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last = -float("inf")
        self._suppressed = 0
        self._lock = threading.Lock()

    def __call__(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            msg = f"{msg} ({suppressed} similar messages suppressed)"
        self._logger.log(level, msg, *args, exc_info=exc_info)


# --------------------------------------------------------------------------------------------- queue
class DropOldestQueue(Generic[T]):
    """A bounded, thread-safe FIFO that never blocks the producer.

    ``put`` on a full queue discards the *oldest* item (counted in :attr:`dropped`) so the consumer
    always gets the freshest data. ``get`` blocks the consumer (with a timeout); ``close`` wakes it
    with :class:`QueueClosedError` and discards what is still queued (also counted as dropped).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._dropped = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def dropped(self) -> int:
        """Items discarded so far (overflow, stale items skipped by ``get_latest``, ``close``)."""
        with self._cond:
            return self._dropped

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def put(self, item: T) -> int:
        """Queue ``item``; returns how many items were discarded to make room (0 or 1; 1 if closed)."""
        with self._cond:
            if self._closed:
                self._dropped += 1
                return 1
            dropped = 0
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                dropped = 1
                self._dropped += 1
            self._items.append(item)
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T:
        """The oldest item; waits up to ``timeout`` seconds (``None``: forever).

        Raises :class:`QueueEmptyError` on timeout and :class:`QueueClosedError` once the queue is closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    raise QueueClosedError
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueEmptyError
                self._cond.wait(remaining)
            if self._closed:
                raise QueueClosedError
            return self._items.popleft()

    def get_latest(self, timeout: float | None = None) -> tuple[T, int]:
        """The newest item and the number of older items skipped (counted as dropped).

        For consumers for which only the current state matters (a pose, a video frame).
        """
        item = self.get(timeout)
        with self._cond:
            skipped = len(self._items)
            if skipped:
                item = self._items[-1]
                self._items.clear()
                self._dropped += skipped
        return item, skipped

    def drain(self) -> list[T]:
        """Remove and return everything queued (not counted as dropped)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            return items

    def close(self) -> None:
        """Discard queued items (counted as dropped), refuse new ones and wake waiting consumers."""
        with self._cond:
            self._dropped += len(self._items)
            self._items.clear()
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Accept items again after :meth:`close` (for a restarted sink)."""
        with self._cond:
            self._closed = False


# --------------------------------------------------------------------------------------------- sinks
class Sink(abc.ABC):
    """A destination for generated motion.

    Lifecycle: ``start()`` (raises :class:`SinkUnavailableError` with an actionable message when
    the sink cannot run here), any number of ``submit(frame)`` calls from the generation thread,
    ``stop()``. ``submit`` must return immediately whatever the sink's peer is doing. Sinks are
    context managers (``with create_sink("vmc") as sink: ...``).

    Class attributes:
        name: the registry name.
        consumes: what the sink takes: ``"motion"`` (:meth:`submit`), ``"image"`` (rendered RGB(A)
            frames, :class:`~plugin_server.sinks.virtual_camera.VirtualCameraSink`), ``"audio"``
            (avatar PCM, :class:`~plugin_server.sinks.audio.AudioPlaybackSink`). The session routes
            each stream only to the sinks that consume it.
    """

    name: ClassVar[str] = "sink"
    consumes: ClassVar[frozenset[str]] = frozenset({"motion"})

    @abc.abstractmethod
    def start(self) -> None:
        """Open the peer/device and start any worker; idempotent."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the worker and release the peer/device; idempotent."""

    @abc.abstractmethod
    def submit(self, frame: MotionFrame) -> None:
        """Hand one frame to the sink without blocking (it may be dropped if the sink lags)."""

    @property
    @abc.abstractmethod
    def stats(self) -> SinkStats:
        """Counters: sent, dropped, errors (+ sink-specific extras)."""

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Whether the sink is started."""

    def __enter__(self) -> Sink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ThreadedSink(Sink, Generic[T]):
    """A sink whose deliveries run on its own daemon thread, fed by a :class:`DropOldestQueue`.

    Subclasses implement :meth:`_open` (called in ``start`` on the caller's thread, so that
    configuration errors surface there), :meth:`_deliver` (one queued item, on the worker thread;
    an exception counts as an error and is logged, rate-limited) and :meth:`_close`. They may
    override :meth:`_idle` (called when no item arrived for ``idle_interval`` seconds) or
    :meth:`_run` (a custom worker loop, e.g. paced output).
    """

    idle_interval: float | None = None

    def __init__(self, *, queue_size: int = 8, extra_counters: Iterable[str] = ()) -> None:
        self._queue: DropOldestQueue[T] = DropOldestQueue(queue_size)
        self._counters = Counters(*extra_counters)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running = False
        self._error_log = RateLimitedLog(logging.getLogger(type(self).__module__))

    # -- public API
    @property
    def running(self) -> bool:
        return self._running

    @property
    def stats(self) -> SinkStats:
        return self._counters.snapshot()

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._open()
            self._queue.drain()
            self._queue.reopen()
            self._running = True
            self._thread = threading.Thread(target=self._worker, name=f"sink-{self.name}", daemon=True)
            self._thread.start()
        log.info("sink %s started", self.name)

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            before = self._queue.dropped
            self._queue.close()
            self._counters.add("dropped", self._queue.dropped - before)
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("sink %s: worker did not stop within %.1f s", self.name, timeout)
        try:
            self._close()
        except Exception:
            log.exception("sink %s: error while closing", self.name)
        log.info("sink %s stopped: %s", self.name, self.stats.as_dict())

    def submit(self, frame: MotionFrame) -> None:
        self._enqueue(frame)  # type: ignore[arg-type]

    # -- helpers for subclasses
    def _enqueue(self, item: T) -> None:
        if not self._running:
            self._counters.add("dropped")
            return
        if self._queue.put(item):
            self._counters.add("dropped")

    def _report_error(self, what: str, exc: BaseException | None = None) -> None:
        self._counters.add("errors")
        if exc is None:
            self._error_log(logging.WARNING, "sink %s: %s", self.name, what)
        else:
            self._error_log(logging.WARNING, "sink %s: %s: %s", self.name, what, exc, exc_info=True)

    def _worker(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the worker must never die silently
            self._report_error("worker crashed", exc)

    def _run(self) -> None:
        """Default loop: deliver each queued item in order; ``_idle`` when nothing arrives."""
        while True:
            try:
                item = self._queue.get(self.idle_interval)
            except QueueClosedError:
                return
            except QueueEmptyError:
                try:
                    self._idle()
                except Exception as exc:
                    self._report_error("idle step failed", exc)
                continue
            try:
                self._deliver(item)
            except Exception as exc:
                self._report_error("delivery failed", exc)
            else:
                self._counters.add("sent")

    # -- to implement
    @abc.abstractmethod
    def _open(self) -> None:
        """Acquire the peer/device; raise :class:`SinkUnavailableError` with an actionable message."""

    @abc.abstractmethod
    def _deliver(self, item: T) -> None:
        """Deliver one item (worker thread)."""

    def _idle(self) -> None:
        """Called on the worker when no item arrived for ``idle_interval`` seconds."""

    def _close(self) -> None:
        """Release the peer/device (after the worker stopped)."""


# --------------------------------------------------------------------------------------------- registry
SinkFactory = Callable[..., Sink]

_REGISTRY: dict[str, SinkFactory] = {}
# Built-in sinks, imported on first use so that optional packages are only needed when selected.
_BUILTIN: dict[str, str] = {
    "vmc": "plugin_server.sinks.vmc",
    "vtube_studio": "plugin_server.sinks.vtube_studio",
    "virtual_camera": "plugin_server.sinks.virtual_camera",
    "audio": "plugin_server.sinks.audio",
}
_ALIASES: dict[str, str] = {"vts": "vtube_studio", "vcam": "virtual_camera", "camera": "virtual_camera"}


def _normalise(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return _ALIASES.get(key, key)


def register_sink(name: str, *, replace: bool = False) -> Callable[[SinkFactory], SinkFactory]:
    """Class decorator (or factory decorator) registering a sink under ``name``.

    ``replace=True`` allows overriding an existing registration (tests, plugins).
    """
    key = _normalise(name)

    def decorator(factory: SinkFactory) -> SinkFactory:
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not factory and not replace:
            raise SinkConfigError(f"a sink named {key!r} is already registered ({existing!r})")
        _REGISTRY[key] = factory
        if isinstance(factory, type) and issubclass(factory, Sink) and factory.name == Sink.name:
            factory.name = key
        return factory

    return decorator


def available_sinks() -> list[str]:
    """Names accepted by :func:`create_sink` (built-ins and registered ones), sorted."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_sink_factory(name: str) -> SinkFactory:
    """The class/factory registered under ``name`` (built-ins are imported on first use)."""
    key = _normalise(name)
    if key not in _REGISTRY and key in _BUILTIN:
        importlib.import_module(_BUILTIN[key])
    try:
        return _REGISTRY[key]
    except KeyError:
        raise SinkConfigError(f"unknown sink {name!r}; valid sinks: {', '.join(available_sinks())}") from None


def _init_of(factory: SinkFactory) -> Callable[..., Any]:
    """The callable whose signature and annotations describe a factory's options."""
    return factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]


def sink_options(name: str) -> dict[str, inspect.Parameter]:
    """The keyword options a sink accepts (from its constructor signature)."""
    params = inspect.signature(_init_of(get_sink_factory(name))).parameters
    return {
        p.name: p
        for p in params.values()
        if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def create_sink(name: str, **options: Any) -> Sink:
    """Create the sink ``name`` with keyword ``options``.

    String option values (from the CLI) are converted with :func:`coerce_options`. Unknown names
    and options raise :class:`SinkConfigError` listing the valid ones.
    """
    factory = get_sink_factory(name)
    valid = sink_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise SinkConfigError(
            f"sink {_normalise(name)!r}: unknown option(s) {unknown}; valid options: {sorted(valid)}"
        )
    return factory(**coerce_options(name, options))


def parse_sink_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Parse a CLI sink spec ``NAME[:KEY=VALUE[,KEY=VALUE...]]``.

    ``"vmc:host=192.0.2.1,port=39540"`` -> ``("vmc", {"host": "192.0.2.1", "port": "39540"})``.
    Values stay strings; :func:`create_sink` converts them using the sink's annotations.
    """
    try:
        return parse_named_spec(spec, "sink")
    except ValueError as e:
        raise SinkConfigError(f"{e}; valid sinks: {', '.join(available_sinks())}") from None


def coerce_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Convert string option values to the types annotated in the sink's constructor."""
    try:
        hints = typing.get_type_hints(_init_of(get_sink_factory(name)))
    except Exception:  # unresolvable annotations: leave values as given
        hints = {}
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, str) and key in hints:
            try:
                out[key] = convert_option(value, hints[key])
            except (TypeError, ValueError) as exc:
                kind = getattr(hints[key], "__name__", None) or str(hints[key])
                raise SinkConfigError(
                    f"sink {_normalise(name)!r}: option {key}={value!r} is not a valid {kind}: {exc}"
                ) from None
        else:
            out[key] = value
    return out
