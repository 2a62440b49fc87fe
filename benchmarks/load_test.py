#!/usr/bin/env python
"""Server load test: N concurrent websocket sessions streaming audio in real time on loopback.

Starts the websocket server (`AvatarServer`, the bundled model unless --model says otherwise) in a
child process, or uses a running one (--url), and opens N sessions with real `websockets` clients
speaking the documented protocol (docs/protocol.md): `hello`, `config`, `turn avatar_start`, then
`audio` chunks of both streams with sequence numbers (models/samples/avatar.flac as the avatar's
voice, models/samples/user.flac as the user's microphone, both looped) at real-time pace for
--seconds; then --barge-ins `interrupt` probes per session; then `bye`. It prints a table per
session, the server process's CPU and memory, a barge-in reaction figure, and how many sessions
stayed real time. --sessions takes a list (1,2,3,4) to sweep; each point gets a fresh server.

    python benchmarks/load_test.py --sessions 1,2,3,4 --seconds 60 --json load.json

The server runs in its own process so that its CPU time and memory can be read from /proc and the
load generator's event loop does not share the server's GIL. Both still share this machine's
cores: the load generator's own CPU and that of other processes are printed next to the server's.

Before each point, N throw-away sessions stream for --server-warmup-s (3 s): a fresh server's
first generator passes are much slower (lazy initialisation, and each new batch size), which
would otherwise make every session skip ahead at the start (0: measure a cold server).

Definitions (all times are this process's `time.monotonic()`; the server is on loopback):

- **Clock start**: just before the session's `config` is sent. The server starts the session's
  avatar-audio clock when it handles that message (loopback: well under a millisecond later).
  Frame f has timestamp f / 25 s on that clock.
- **Chunks**: chunk i of each stream holds samples [i K, (i + 1) K) of the looped file
  (K = --chunk-ms of audio) and both streams' chunk i are sent at clock start + (i + 1) chunk - lead.
  `lead` (--lead-ms, default chunk + 60 ms) is the least that keeps the server's audio queues from
  running dry: when a block falls due the server places audio up to its end plus the front end's
  40-ms look-ahead, so a chunk must arrive `chunk + 40 ms` before its end on the clock (+ 20 ms of
  scheduling margin). Sent later, the server would place silence and play the audio late (that is
  how a live microphone, which can only send a chunk once it is complete, pays the same delay).
- **Motion latency** of frame f: the arrival time of the `motion` message holding frame f minus
  the send time of the chunk holding the avatar stream's sample at f's timestamp (sample
  f * rate // 25, where the protocol places frame f). It includes the block period (a 4-frame
  block is generated when its last frame's time has passed), the 40-ms look-ahead, the lead's
  margin, waiting for the shared generation thread, compute, and the trip back. p50 / p95 over the
  frames after --warmup-s.
- **aligned**: the share of blocks whose re-emitted `avatar_audio` equals, sample for sample, the
  avatar audio sent for those frame positions. 100 % means the server placed every sample at its
  own timestamp, so the latency definition above holds exactly; less means the server placed
  silence somewhere and the latencies of the shifted frames are underestimated by the shift. Two
  causes: the session skipped ahead (`skipped`: the queued audio plays after the jump), or a chunk
  came late. `send lag` is the load generator's worst lateness sending a chunk (steady phase):
  above the lead's 20-ms margin, the load generator itself could not keep pace (a busy machine).
- **RTF** (real-time factor, higher is better here): motion seconds received per wall second,
  measured from the first to the last `motion` block of frames in [warmup, seconds) (frames
  received in the blocks after the first one, / 25, / their arrival span). 1.0 = keeping pace;
  frames skipped or dropped by the server lower it. (`compute` is the server's own figure from
  `stats.rtf`: generation compute seconds per motion second, < 1 keeps up.)
- **late p95**: arrival of a block minus the clock time its last frame ends (what the server
  adds beyond the block period itself; `stream_audio`'s `lateness`).
- **frames recv / exp**: distinct frames received with numbers below seconds x 25 / seconds x 25.
  `dropped`, `skipped`, `late blk`, `errors`: the server's `stats` counters (`dropped_frames`
  lost to a slow client, `skipped_frames` when a session fell over 1 s behind, `late_blocks`
  generated more than a block period after they were due) at the end of the steady phase.
- **Barge-in reaction**: after the steady phase each session runs --barge-ins cycles: `turn
  avatar_start` (un-mutes the avatar stream), about a second of speech, then `turn interrupt`.
  The server answers `turn_event interrupted` with `frame` = the first frame generated from
  silence. `cut` = arrival of the `motion` block holding that frame minus the send time of the
  `interrupt`: how long until the client holds the first frame that reflects the barge-in.
  `closed` = the same up to the first frame at or after it whose mouth openness (JawOpen + half the
  mean of MouthLowerDownLeft/Right, the project's evaluation metric) is below 0.08 (the metric's
  silence threshold): the mouth visibly shut. `closed` depends on the model (meaningless with
  --model random); `open before` counts the probes whose last frame before the cut was open.
  `ack` is the `ack` of the interrupt (the server handles a message once the session's running
  tick is done).
- **real time**: a session with RTF >= 0.98 and motion latency p95 <= --max-p95-ms (500 ms).
- **Server CPU**: user + system CPU seconds of the server process (from /proc) per wall second
  over the steady window of all sessions (from the last session's warm-up end to the first
  session's steady end), in % of one core. RSS from /proc: after the model is loaded, at the end
  of that window, and the process's peak (VmHWM). `client` is this process's CPU over the same
  window, `machine` all CPUs' busy time from /proc/stat (`others` = machine - server - client).

Exit status: 0, or 1 when no session ran (a connection or server failure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from websockets.exceptions import ConnectionClosed  # noqa: E402

from plugin_server.cli.options import key_values  # noqa: E402
from plugin_server.protocol import (  # noqa: E402
    Ack,
    Audio,
    AvatarAudio,
    Config,
    Error,
    Motion,
    Stats,
    Turn,
    TurnEvent,
)
from plugin_server.server.client import AvatarClient  # noqa: E402

FPS = 25
CLOSED_OPENNESS = 0.08  # models.evaluation.metrics.silence_closure's threshold
SAMPLES = ROOT / "models" / "samples"
log = logging.getLogger("load_test")


# --- the server in a child process ---------------------------------------------------------------
def _serve_child(
    conn: Connection, model: str, threads: int | None, options: dict[str, Any], level: str
) -> None:
    """Child process: load the model, serve on a free loopback port, report the port, run until
    SIGTERM (graceful stop). `options`: `ServerConfig` fields."""
    logging.basicConfig(level=level, format="server %(levelname)s %(name)s: %(message)s")
    try:
        import torch

        from models.bundle import AvatarForcingModel, default_card
        from plugin_server.server import AvatarServer, ServerConfig, run_server

        if threads:
            torch.set_num_threads(threads)
        if model == "random":
            net = AvatarForcingModel(default_card()).eval()
        else:
            net = AvatarForcingModel.load(None if model == "default" else model)
        server = AvatarServer(net, ServerConfig(**{"port": 0, **options}))
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
        raise
    torch_threads = torch.get_num_threads()
    asyncio.run(run_server(server, lambda s: conn.send(("ready", s.port, torch_threads))))


@dataclass
class ServerProcess:
    """A server started by this script."""

    process: multiprocessing.process.BaseProcess
    url: str
    torch_threads: int

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process.is_alive():
            os.kill(self.pid, signal.SIGTERM)
            self.process.join(20)
        if self.process.is_alive():
            log.warning("server did not stop in 20 s: killing it")
            self.process.kill()
            self.process.join(5)


def start_server(model: str, threads: int | None, options: dict[str, Any], level: str) -> ServerProcess:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_serve_child, args=(child, model, threads, options, level), name="avatar-server"
    )
    proc.start()
    child.close()  # the child holds its end: a child that dies gives EOF here
    deadline = time.monotonic() + 180
    try:
        while not parent.poll(0.5):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise EOFError
        msg = parent.recv()
    except EOFError:
        proc.kill()
        proc.join(5)
        raise RuntimeError(
            f"the server did not start (exit code {proc.exitcode}; see its log above)"
        ) from None
    if msg[0] != "ready":
        proc.join(5)
        raise RuntimeError(f"the server failed to start: {msg[1]}")
    return ServerProcess(proc, f"ws://127.0.0.1:{msg[1]}/", int(msg[2]))


# --- /proc ----------------------------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (None without /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process in MiB (empty without /proc)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def machine_cpu_s() -> float | None:
    """Busy CPU seconds of the whole machine, all cores (None without /proc)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    v = [int(x) for x in first[1:]]
    busy = sum(v[:8]) - v[3] - v[4]  # all but idle and iowait (guest time is inside user)
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """A snapshot of CPU counters."""

    at: float
    server: float | None
    client: float
    machine: float | None

    @classmethod
    def now(cls, pid: int | None) -> Usage:
        return cls(time.monotonic(), proc_cpu_s(pid) if pid else None, time.process_time(), machine_cpu_s())


def percent(a: float | None, b: float | None, wall: float) -> float | None:
    if a is None or b is None or wall <= 0:
        return None
    return round(100.0 * (b - a) / wall, 1)


# --- audio ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loop:
    """A sample file as int16 mono, read cyclically."""

    samples: np.ndarray  # (n,) int16
    rate: int

    @classmethod
    def load(cls, path: Path) -> Loop:
        import soundfile as sf

        x, rate = sf.read(str(path), dtype="int16", always_2d=True)
        return cls(np.ascontiguousarray(x[:, 0]), int(rate))

    def take(self, start: int, n: int) -> np.ndarray:
        idx = (start + np.arange(n)) % len(self.samples)
        return self.samples[idx]

    def voiced(self, start_s: float, end_s: float) -> bool:
        """Whether every 40-ms frame in [start_s, end_s) of the loop is above -40 dBFS."""
        step = self.rate // FPS
        for k in range(int(start_s * FPS), int(end_s * FPS)):
            x = self.take(k * step, step).astype(np.float64) / 32768
            if 10 * np.log10(np.mean(x * x) + 1e-12) < -40:
                return False
        return True


# --- one session ---------------------------------------------------------------------------------
@dataclass
class Options:
    seconds: float
    warmup_s: float
    chunk_s: float
    lead_s: float
    barge_ins: int
    max_p95_ms: float
    token: str | None


@dataclass
class BargeIn:
    sent: float  # send time of the interrupt
    ack_ms: float | None = None
    cut_frame: int | None = None
    cut_ms: float | None = None
    closed_ms: float | None = None
    open_before: bool | None = None


@dataclass
class SessionResult:
    index: int
    session_id: str = ""
    rtf: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    late_p95_ms: float | None = None
    frames_received: int = 0
    frames_expected: int = 0
    dropped_frames: int = 0
    skipped_frames: int = 0
    late_blocks: int = 0
    batched_blocks: int | None = None  # stats.batched_blocks, where the server reports it
    server_errors: int = 0
    compute_rtf: float | None = None
    aligned: float | None = None
    send_lag_max_ms: float | None = None  # the load generator's worst lateness sending a chunk
    errors: dict[str, int] = field(default_factory=dict)
    barge_ins: list[BargeIn] = field(default_factory=list)
    failure: str | None = None

    def real_time(self, max_p95_ms: float) -> bool:
        return (
            self.failure is None
            and self.rtf >= 0.98
            and self.latency_p95_ms is not None
            and self.latency_p95_ms <= max_p95_ms
        )


@dataclass
class Received:
    at: float
    msg: Any


def pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values), q))


def openness(motion: Motion) -> np.ndarray:
    """Per frame: JawOpen + 0.5 mean(MouthLowerDownLeft/Right) (ARKit naming)."""
    index = {n: i for i, n in enumerate(motion.names)}
    v = np.asarray(motion.values, np.float64)
    jaw = v[:, index["JawOpen"]]
    lower = (v[:, index["MouthLowerDownLeft"]] + v[:, index["MouthLowerDownRight"]]) / 2
    return jaw + 0.5 * lower


class LoadSession:
    """One client session: streams both audio loops in real time and records what comes back."""

    def __init__(self, index: int, url: str, opts: Options, avatar: Loop, user: Loop) -> None:
        self.index = index
        self.opts = opts
        self.avatar = avatar
        self.user = user
        self.client = AvatarClient(url, token=opts.token, name=f"load-test/{index}")
        self.clock_start = 0.0
        self.started = asyncio.Event()
        self.sent: list[float] = []  # send time of chunk i (both streams)
        self.send_lag: list[float] = []  # per chunk: send time minus its scheduled time
        self.received: list[Received] = []
        self.barge_ins: list[BargeIn] = []
        self.interrupt_ids: dict[int, BargeIn] = {}
        self._stop_sending = False

    def chunk_samples(self, loop: Loop) -> int:
        return round(loop.rate * self.opts.chunk_s)

    async def connect(self) -> None:
        await self.client.connect()

    async def run(self, start_at: float) -> None:
        opts, client = self.opts, self.client
        delay = start_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.clock_start = time.monotonic()
        self.started.set()
        await client.send(
            Config(
                id=client.next_id(),
                config={
                    "seed": self.index,
                    "naming": "arkit",
                    "arkit_spelling": "pascal",
                    "stats_interval_s": 1.0,
                },
            )
        )
        await client.send(Turn(id=client.next_id(), event="avatar_start"))
        barge_s = opts.barge_ins * 2.5
        end = self.clock_start + opts.seconds + barge_s + 1.0  # + tail: the last blocks come back
        sender = asyncio.create_task(self._send_audio())
        cues = asyncio.create_task(self._barge_ins())
        try:
            async for at, msg in client.messages_until(end):
                self.received.append(Received(at, msg))
        finally:
            self._stop_sending = True
            for task in (sender, cues):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
            with contextlib.suppress(Exception):
                await client.bye()

    async def _send_audio(self) -> None:
        client, opts = self.client, self.opts
        ka, ku = self.chunk_samples(self.avatar), self.chunk_samples(self.user)
        i = 0
        while not self._stop_sending:
            scheduled = self.clock_start + (i + 1) * opts.chunk_s - opts.lead_s
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            self.sent.append(now)
            self.send_lag.append(max(0.0, now - max(scheduled, self.clock_start)))
            for stream, loop, k in (("avatar", self.avatar, ka), ("user", self.user, ku)):
                await client.send(
                    Audio(
                        stream=stream,  # type: ignore[arg-type]
                        seq=i,
                        format="s16le",
                        rate=loop.rate,
                        channels=1,
                        data=loop.take(i * k, k).astype("<i2").tobytes(),
                    )
                )
            i += 1

    async def _barge_ins(self) -> None:
        client, opts = self.client, self.opts
        t = self.clock_start + opts.seconds
        for _ in range(opts.barge_ins):
            await asyncio.sleep(max(0.0, t - time.monotonic()))
            await client.send(Turn(id=client.next_id(), event="avatar_start"))
            # about a second of speech, then interrupt while the avatar's voice is on
            speak_from = time.monotonic() + 0.8
            while True:
                await asyncio.sleep(max(0.0, speak_from - time.monotonic()))
                pos = time.monotonic() - self.clock_start
                if self.avatar.voiced(pos - 0.2, pos) or time.monotonic() - t > 1.8:
                    break
                speak_from = time.monotonic() + 0.04
            mid = client.next_id()
            probe = BargeIn(sent=time.monotonic())
            self.interrupt_ids[mid] = probe
            self.barge_ins.append(probe)
            await client.send(Turn(id=mid, event="interrupt"))
            t += 2.5

    # --- figures -------------------------------------------------------------------------------
    def result(self) -> SessionResult:
        opts = self.opts
        res = SessionResult(self.index, self.client.session_id or "")
        n_steady = round(opts.seconds * FPS)
        warm = round(opts.warmup_s * FPS)
        res.frames_expected = n_steady
        ka = self.chunk_samples(self.avatar)
        rate = self.avatar.rate
        seen: set[int] = set()
        latencies: list[float] = []
        lateness: list[float] = []
        blocks: list[tuple[float, int]] = []  # steady blocks after warm-up: (arrival, frames)
        aligned = total = 0
        errors: Counter[str] = Counter()
        last_stats: Stats | None = None
        compute: list[float] = []
        motions = [r for r in self.received if isinstance(r.msg, Motion)]
        for r in self.received:
            msg = r.msg
            if isinstance(msg, Error):
                errors[msg.code] += 1
            elif isinstance(msg, Stats):
                if msg.t <= opts.seconds + 0.5:
                    last_stats = msg
                    if msg.t > opts.warmup_s + 1.0 and msg.rtf > 0:
                        compute.append(msg.rtf)
            elif isinstance(msg, AvatarAudio) and msg.frame + msg.frames <= n_steady:
                lo, hi = msg.frame * rate // FPS, (msg.frame + msg.frames) * rate // FPS
                got = np.frombuffer(msg.data, "<i2") if msg.format == "s16le" else None
                total += 1
                if (
                    got is not None
                    and msg.rate == rate
                    and np.array_equal(got, self.avatar.take(lo, hi - lo))
                ):
                    aligned += 1
        for r in motions:
            m: Motion = r.msg
            n = len(m.timestamps)
            if m.frame >= n_steady:
                continue
            lateness.append(r.at - (self.clock_start + (m.frame + n) / FPS))
            for f in range(m.frame, min(m.frame + n, n_steady)):
                seen.add(f)
                chunk = (f * rate // FPS) // ka
                if f >= warm and chunk < len(self.sent):
                    latencies.append(r.at - self.sent[chunk])
            if m.frame >= warm and m.frame + n <= n_steady:
                blocks.append((r.at, n))
        res.frames_received = len(seen)
        if len(blocks) >= 2 and blocks[-1][0] > blocks[0][0]:
            res.rtf = round(sum(n for _, n in blocks[1:]) / FPS / (blocks[-1][0] - blocks[0][0]), 4)
        ms = [1000 * x for x in latencies]
        res.latency_p50_ms, res.latency_p95_ms = pctl(ms, 50), pctl(ms, 95)
        res.late_p95_ms = pctl([1000 * x for x in lateness], 95)
        res.aligned = aligned / total if total else None
        steady_chunks = self.send_lag[: int(opts.seconds / opts.chunk_s)]
        res.send_lag_max_ms = 1000 * max(steady_chunks) if steady_chunks else None
        res.errors = dict(errors)
        res.compute_rtf = statistics.mean(compute) if compute else None
        if last_stats is not None:
            res.dropped_frames = last_stats.dropped_frames
            res.skipped_frames = last_stats.skipped_frames
            res.late_blocks = last_stats.late_blocks
            res.batched_blocks = getattr(last_stats, "batched_blocks", None)
            res.server_errors = last_stats.errors
        self._barge_in_figures(motions)
        res.barge_ins = self.barge_ins
        return res

    def _barge_in_figures(self, motions: list[Received]) -> None:
        events = [r for r in self.received if isinstance(r.msg, TurnEvent) and r.msg.event == "interrupted"]
        for r in self.received:
            if isinstance(r.msg, Ack) and r.msg.msg_id in self.interrupt_ids:
                probe = self.interrupt_ids[r.msg.msg_id]
                probe.ack_ms = 1000 * (r.at - probe.sent)
        for probe in self.barge_ins:
            ev = next((e for e in events if e.at >= probe.sent), None)
            if ev is None:
                continue
            cut = probe.cut_frame = ev.msg.frame
            for r in motions:
                m: Motion = r.msg
                n = len(m.timestamps)
                if m.frame + n <= cut:
                    if m.frame + n == cut:
                        probe.open_before = bool(openness(m)[-1] >= CLOSED_OPENNESS)
                    continue
                if probe.cut_ms is None:
                    probe.cut_ms = 1000 * (r.at - probe.sent)
                shut = [i for i, o in enumerate(openness(m)) if o < CLOSED_OPENNESS and m.frame + i >= cut]
                if shut:
                    probe.closed_ms = 1000 * (r.at - probe.sent)
                    break


# --- one sweep point -----------------------------------------------------------------------------
@dataclass
class PointResult:
    sessions: int
    results: list[SessionResult]
    server_cpu_pct: float | None
    client_cpu_pct: float | None
    machine_cpu_pct: float | None
    others_cpu_pct: float | None
    rss_mib: dict[str, float | None]
    window_s: float
    load_avg: tuple[float, float, float] | None
    real_time: int = 0


async def start_sessions(sessions: list[LoadSession], stagger_s: float) -> list[asyncio.Task[None]]:
    """Connect every session (hello), then start their clocks `stagger_s` apart."""
    await asyncio.gather(*(s.connect() for s in sessions))
    t0 = time.monotonic() + 0.2
    return [asyncio.create_task(s.run(t0 + i * stagger_s)) for i, s in enumerate(sessions)]


async def run_point(
    n: int,
    url: str,
    opts: Options,
    pid: int | None,
    stagger_s: float,
    avatar: Loop,
    user: Loop,
    server_warmup_s: float = 0.0,
) -> PointResult:
    rss: dict[str, float | None] = {}
    if pid:
        rss["ready"] = proc_mem_mib(pid).get("VmRSS")
    if server_warmup_s > 0:  # throw-away sessions: the server's first passes (of each batch size) are slow
        warm = dataclasses.replace(opts, seconds=server_warmup_s, warmup_s=0.0, barge_ins=0)
        await asyncio.gather(
            *await start_sessions([LoadSession(i, url, warm, avatar, user) for i in range(n)], stagger_s)
        )
    sessions = [LoadSession(i, url, opts, avatar, user) for i in range(n)]
    tasks = await start_sessions(sessions, stagger_s)
    await asyncio.gather(*(s.started.wait() for s in sessions))
    a = max(s.clock_start for s in sessions) + opts.warmup_s
    b = min(s.clock_start for s in sessions) + opts.seconds
    usage_a = usage_b = None
    if b > a:
        await asyncio.sleep(max(0.0, a - time.monotonic()))
        usage_a = Usage.now(pid)
        await asyncio.sleep(max(0.0, b - time.monotonic()))
        usage_b = Usage.now(pid)
        if pid:
            rss["steady_end"] = proc_mem_mib(pid).get("VmRSS")
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    if pid:
        rss["peak"] = proc_mem_mib(pid).get("VmHWM")
    results = []
    for s, outcome in zip(sessions, outcomes, strict=True):
        res = s.result()
        if isinstance(outcome, BaseException):
            res.failure = f"{type(outcome).__name__}: {outcome}"
        results.append(res)
    point = PointResult(n, results, None, None, None, None, rss, 0.0, None)
    if usage_a is not None and usage_b is not None:
        wall = usage_b.at - usage_a.at
        point.window_s = round(wall, 2)
        point.server_cpu_pct = percent(usage_a.server, usage_b.server, wall)
        point.client_cpu_pct = percent(usage_a.client, usage_b.client, wall)
        point.machine_cpu_pct = percent(usage_a.machine, usage_b.machine, wall)
        if point.machine_cpu_pct is not None:
            others = point.machine_cpu_pct - (point.server_cpu_pct or 0.0) - (point.client_cpu_pct or 0.0)
            point.others_cpu_pct = round(max(0.0, others), 1)  # (clock-tick rounding can go below 0)
    with contextlib.suppress(OSError):
        point.load_avg = os.getloadavg()
    point.real_time = sum(r.real_time(opts.max_p95_ms) for r in results)
    return point


# --- output --------------------------------------------------------------------------------------
def _f(x: float | None, spec: str = ".0f", unit: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{unit}"


def format_point(p: PointResult, opts: Options) -> str:
    lines = [f"== {p.sessions} session(s), {opts.seconds:g} s each =="]
    head = (
        f"{'sess':>4} {'RTF':>6} {'lat p50':>8} {'lat p95':>8} {'late p95':>9} {'frames':>11} "
        f"{'dropped':>7} {'skipped':>7} {'late blk':>8} {'compute':>7} {'aligned':>7} {'send lag':>8} "
        f"{'errors':>6}  real time"
    )
    lines.append(head)
    for r in p.results:
        frames = f"{r.frames_received}/{r.frames_expected}"
        aligned = "-" if r.aligned is None else f"{100 * r.aligned:.0f}%"
        errs = sum(r.errors.values())
        ok = "yes" if r.real_time(opts.max_p95_ms) else "NO"
        lines.append(
            f"{r.index:>4} {r.rtf:>6.3f} {_f(r.latency_p50_ms, '.0f', ' ms'):>8} "
            f"{_f(r.latency_p95_ms, '.0f', ' ms'):>8} {_f(r.late_p95_ms, '.0f', ' ms'):>9} {frames:>11} "
            f"{r.dropped_frames:>7} {r.skipped_frames:>7} {r.late_blocks:>8} {_f(r.compute_rtf, '.2f'):>7} "
            f"{aligned:>7} {_f(r.send_lag_max_ms, '.0f', ' ms'):>8} {errs:>6}  {ok}"
        )
        if r.batched_blocks is not None:
            lines[-1] += f"  (batched blocks {r.batched_blocks})"
        if r.errors:
            lines.append(f"     errors: {dict(r.errors)}")
        if r.failure:
            lines.append(f"     FAILED: {r.failure}")
    rss = p.rss_mib
    lines.append(
        f"server: CPU {_f(p.server_cpu_pct, '.0f', '%')} of one core over {p.window_s:g} s; RSS "
        f"{_f(rss.get('ready'), '.0f')} MiB ready, {_f(rss.get('steady_end'), '.0f')} MiB at steady end, "
        f"peak {_f(rss.get('peak'), '.0f')} MiB"
    )
    lines.append(
        f"load generator: CPU {_f(p.client_cpu_pct, '.0f', '%')}; machine busy "
        f"{_f(p.machine_cpu_pct, '.0f', '%')} of {100 * (os.cpu_count() or 1)}% "
        f"(other processes {_f(p.others_cpu_pct, '.0f', '%')}); load average "
        + ("-" if p.load_avg is None else " ".join(f"{x:.2f}" for x in p.load_avg))
    )
    probes = [b for r in p.results for b in r.barge_ins]
    if probes:
        cut = [b.cut_ms for b in probes if b.cut_ms is not None]
        closed = [b.closed_ms for b in probes if b.closed_ms is not None]
        opened = sum(bool(b.open_before) for b in probes)
        acks = [b.ack_ms for b in probes if b.ack_ms is not None]
        lines.append(
            f"barge-in ({len(probes)} interrupts): ack after p50 {_f(pctl(acks, 50), '.0f', ' ms')}; "
            f"first silent frame received after "
            f"p50 {_f(pctl(cut, 50), '.0f', ' ms')} / p95 {_f(pctl(cut, 95), '.0f', ' ms')}; mouth closed "
            f"(openness < {CLOSED_OPENNESS}) after p50 {_f(pctl(closed, 50), '.0f', ' ms')} / p95 "
            f"{_f(pctl(closed, 95), '.0f', ' ms')} ({len(closed)}/{len(probes)} closed; "
            f"{opened}/{len(probes)} open just before the cut)"
        )
    lines.append(
        f"real time: {p.real_time}/{p.sessions} sessions (RTF >= 0.98 and motion latency p95 <= "
        f"{opts.max_p95_ms:g} ms)"
    )
    return "\n".join(lines)


def summary(points: list[PointResult]) -> str:
    held = [p.sessions for p in points if p.real_time == p.sessions]
    best = max(held) if held else 0
    per = ", ".join(f"{p.sessions}: {p.real_time}/{p.sessions}" for p in points)
    first = min(points, key=lambda p: p.sessions)
    lat = [r.latency_p50_ms for r in first.results if r.latency_p50_ms is not None]
    cut = [b.cut_ms for r in first.results for b in r.barge_ins if b.cut_ms is not None]
    return (
        f"SUMMARY: {best} session(s) held real time (all sessions real time at N = {held or 'none'}; "
        f"per N, real-time sessions: {per}); at N = {first.sessions}: motion latency p50 "
        f"{_f(statistics.median(lat) if lat else None, '.0f', ' ms')}, barge-in first silent frame p50 "
        f"{_f(pctl(cut, 50), '.0f', ' ms')}"
    )


# --- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", default="1,2", help="concurrent sessions, or a list to sweep (default 1,2)")
    p.add_argument("--seconds", type=float, default=30.0, help="steady streaming per session (default 30)")
    p.add_argument("--warmup-s", type=float, default=2.0, help="left out of RTF and latency (default 2)")
    p.add_argument(
        "--server-warmup-s",
        type=float,
        default=3.0,
        help="before each point, N throw-away sessions stream this long (default 3; 0: a cold server)",
    )
    p.add_argument("--chunk-ms", type=float, default=40.0, help="audio chunk length (default 40 ms)")
    p.add_argument(
        "--lead-ms", type=float, default=None, help="send chunks this early (default chunk + 60 ms)"
    )
    p.add_argument("--barge-ins", type=int, default=3, help="interrupt probes per session after streaming")
    p.add_argument(
        "--stagger-ms", type=float, default=37.0, help="start offset between sessions (default 37)"
    )
    p.add_argument("--max-p95-ms", type=float, default=500.0, help="latency p95 bound of 'real time'")
    p.add_argument("--model", default="default", help="server model: default (bundled), random, or a path")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the server (default: torch's)")
    p.add_argument("--url", default=None, help="use a running server instead of starting one")
    p.add_argument("--server-pid", type=int, default=None, help="with --url: its pid, for CPU and memory")
    p.add_argument("--token", default=os.environ.get("AVATAR_FORCING_TOKEN") or None, help="server token")
    p.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a ServerConfig field of the started server, repeatable (VALUE read as JSON, else as a string)",
    )
    p.add_argument("--server-log", default="WARNING", help="log level of the child server (default WARNING)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        server_options = key_values(args.server_option, "--server-option")
    except ValueError as e:
        p.error(str(e))
    counts = [int(x) for x in str(args.sessions).split(",") if x.strip()]
    if not counts or min(counts) < 1:
        p.error("--sessions: one or more positive integers, e.g. 1,2,3,4")
    chunk_s = args.chunk_ms / 1000
    lead_s = (args.lead_ms if args.lead_ms is not None else args.chunk_ms + 60.0) / 1000
    if not 0.005 <= chunk_s <= 0.5 or args.seconds <= args.warmup_s:
        p.error("--chunk-ms must be 5..500 and --seconds longer than --warmup-s")
    opts = Options(args.seconds, args.warmup_s, chunk_s, lead_s, args.barge_ins, args.max_p95_ms, args.token)
    avatar, user = Loop.load(SAMPLES / "avatar.flac"), Loop.load(SAMPLES / "user.flac")

    print(
        f"load test: sessions {counts}, {args.seconds:g} s each (+ {args.barge_ins} barge-ins), "
        f"{args.chunk_ms:g}-ms chunks sent {1000 * lead_s:.0f} ms ahead, model {args.model}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    points: list[PointResult] = []
    for n in counts:
        server: ServerProcess | None = None
        try:
            if args.url:
                url, pid = args.url, args.server_pid
            else:
                options = {"max_sessions": max(8, n), **server_options}
                server = start_server(args.model, args.threads, options, args.server_log)
                url, pid = server.url, server.pid
                print(f"server pid {pid} on {url} ({server.torch_threads} torch threads)", flush=True)
            point = asyncio.run(
                run_point(n, url, opts, pid, args.stagger_ms / 1000, avatar, user, args.server_warmup_s)
            )
        except (RuntimeError, OSError) as e:
            print(f"== {n} session(s): FAILED: {e}", flush=True)
            continue
        finally:
            if server is not None:
                server.stop()
        points.append(point)
        print(format_point(point, opts), flush=True)
    if not points:
        print("SUMMARY: no sweep point ran", flush=True)
        return 1
    print(summary(points), flush=True)
    if args.json is not None:
        doc: dict[str, Any] = {
            "options": dataclasses.asdict(opts)
            | {"model": args.model, "threads": args.threads, "server_options": server_options},
            "points": [],
        }
        doc["options"].pop("token")
        for point in points:
            doc["points"].append(dataclasses.asdict(point))
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if any(r.failure is None and r.frames_received for pt in points for r in pt.results) else 1


if __name__ == "__main__":
    sys.exit(main())
