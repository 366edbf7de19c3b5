"""Load test: N concurrent visitor sessions of the real app over Streamlit's own websocket protocol (issue 7).

Usage::

    python bench/bench_load.py                       # N = 1, 10, 30; 5-10 minutes on 2 cores
    python bench/bench_load.py --fresh-models --profile --sweep 60   # the issue's figures; about 15 minutes
    python bench/bench_load.py --visitors 30 --option runner.postScriptGC=false   # try a server setting

Loopback only, bounded in count and time, stopping by itself. For each N it starts ``streamlit run app.py`` on a
free 127.0.0.1 port with the tests' small settings (``zsl_app.testing.environment``: 100 train / 40 test images
per class, EfficientNet at 64 px, data from ``$ZSL_TEST_DATA``), warms it with one unmeasured visit, then runs N
visitors at once. Each visitor is a real session, as a browser tab holds one: it fetches ``/_stcore/health`` for
its XSRF cookie, opens ``ws://127.0.0.1:PORT/_stcore/stream`` and exchanges ``BackMsg`` / ``ForwardMsg``
protobufs exactly as the frontend does (rerun requests with ``WidgetStates``, the fragment id for a widget inside
an ``st.fragment``, ``file_urls_request`` + HTTP PUT for an upload). Like a student in class, each visitor opens
the Home page, then ``--rounds`` times: goes to Threshold tradeoff and moves the slider (key ``novel_pct``) a few
times, holds out another pair of classes (sidebar multiselect ``unseen``), moves the slider again, goes to
Classify a photo and uploads a generated photo (key ``upload``); seeded think time between actions.

Measured per interaction: from sending the change to the ``script_finished`` message of the run it started
(the moment the browser's spinner stops). Errors: exception elements, ``st.error`` alerts, compile errors,
disconnects, failed uploads, runs not finished within ``--timeout``. Cross-talk: after every run the session must
see its own held-out set (the multiselect's value echoed by the server and every "a + b" held-out set named in
the page's text and metric help), its own slider value (the slider's echo and the "Called novel" metric) and its
own photo (the file name in the image caption). Memory: resident size of the server process and its children
(``VmRSS`` sampled, ``VmHWM`` at the end); ``--sweep K`` then holds out K new sets of 3-4 classes from 10
sessions and reads the lowest RSS of each half (fits make RSS climb and fall back, so growth shows in the
troughs). ``--fresh-models`` starts each N with no fitted model on disk (every held-out set is trained, as in
a class's first lesson); without it, models fitted by earlier runs are read from the cache. With
``--profile``, ``py-spy`` samples the thread holding the GIL while the visitors run, and the hot spots are
printed (Python time per app function, and where the samples fell).

Why the websocket protocol rather than Playwright pages: a headless Chromium costs 150-300 MB and a core's worth
of layout and Plotly rendering per page, so 30 of them would measure the browsers, not the server, on this
2-core machine; the protocol client costs a few MB and little CPU per visitor while the server does exactly
the work it does for a browser. ``--browsers K`` adds K real Chromium pages moving the slider alongside, as a
cross-check that the protocol visitors see what a browser sees (their latencies are reported separately).

Prints figures as it goes and ends with ONE JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from zsl_app.testing import data_path, environment  # noqa: E402

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
KINDS = ("open", "page", "slider", "held_out", "upload")
#: ``max_entries`` of ``zsl_app.pipeline._run_slot``, the cache that holds every trained run (for the report).
SLOT_CAP = 64
#: ``script_finished`` values (``ForwardMsg.ScriptFinishedStatus``).
FINISHED, COMPILE_ERROR, EARLY_FOR_RERUN, FRAGMENT_FINISHED = 0, 1, 2, 3


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def pct(values, q) -> float | None:
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 3) if len(values) else None


# ------------------------------------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of one process in kB (empty when it is gone)."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM when the benchmark dies, however it dies (Linux)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """``streamlit run app.py`` on a free loopback port with the tests' settings; stops on ``close``."""

    def __init__(self, env: dict[str, str], options=(), start_timeout: float = 180):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+", prefix="zsl-load-", suffix=".log", delete=False)
        env = {**os.environ, **env}
        command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")]
        command += ["--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true",
                    "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
                    "--server.runOnSave", "false"]
        for option in options:  # KEY=VALUE -> --KEY VALUE
            key, _, value = option.partition("=")
            command += [f"--{key}", value]
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.time() + start_timeout
        while True:
            try:
                status, _, body = asyncio.run(http("127.0.0.1", self.port, "GET", "/_stcore/health", timeout=2))
                if status == 200 and body.strip() == b"ok":
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                tail = self.tail()
                self.close()
                raise RuntimeError(f"streamlit did not start:\n{tail}")
            time.sleep(0.3)

    def tail(self, n: int = 3000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-n:]

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc.poll() is None else []

    def memory_kb(self) -> tuple[int, int]:
        """(sum of VmRSS, sum of VmHWM) over the server's process tree, kB."""
        stats = [_proc_status(p) for p in self.pids()]
        return sum(s.get("VmRSS", 0) for s in stats), sum(s.get("VmHWM", 0) for s in stats)

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(p) for p in self.pids())

    def close(self, keep_log: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        if keep_log:
            log(f"server log: {self.log.name}")
        else:
            Path(self.log.name).unlink(missing_ok=True)


class Monitor:
    """Samples the server's memory and the machine's load average in a thread while the visitors run."""

    def __init__(self, server: Server, every: float = 0.5):
        self.server, self.every = server, every
        self.rss_kb: list[tuple[float, int]] = []
        self.load: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="load-monitor", daemon=True)

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.cpu0 = self.server.cpu_seconds()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss, _ = self.server.memory_kb()
            self.rss_kb.append((time.perf_counter() - self.t0, rss))
            with contextlib.suppress(OSError, ValueError):
                self.load.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self._stop.wait(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.wall = time.perf_counter() - self.t0
        self.cpu = self.server.cpu_seconds() - self.cpu0


# ------------------------------------------------------------------------------------------------ profiling


FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")


def _short(path: str) -> str:
    """A frame's file relative to the repository or to site-packages (``zsl_app/figures.py``, ``plotly/...``)."""
    for root in ("site-packages/", str(REPO) + "/", "/lib/python3."):
        if root in path:
            rest = path.split(root, 1)[1]
            return rest.split("/", 1)[1] if root == "/lib/python3." else rest
    return path


def _ours(path: str) -> bool:
    return path == "app.py" or path.startswith(("pages/", "zsl_app/", "zsl_core/"))


class Profiler:
    """``py-spy record`` on the server while the visitors run: where its Python time goes.

    Samples ``rate`` times a second without pausing the server (``--nonblocking``). With ``gil`` (the default)
    only the thread holding the GIL is sampled, so a figure is the server's Python CPU time (``ms`` = samples /
    rate; native code that releases the GIL, such as BLAS, is not counted); without, every thread py-spy
    does not see as idle. Needs ``py-spy`` (``pip install py-spy``) and permission to ptrace the server.
    """

    def __init__(self, pid: int, rate: int = 50, gil: bool = True):

        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.rate, self.gil = rate, gil
        self.out = Path(tempfile.mkdtemp(prefix="zsl-load-pyspy-")) / "stacks.txt"
        self.proc = None
        if not Path(exe).exists():
            log("--profile: py-spy not found (pip install py-spy); no hot spots")
            return
        self.proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                      "--nonblocking", "--full-filenames", "--nolineno", "--output", str(self.out)]
                                     + (["--gil"] if gil else []),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, times: dict[str, list[float]]) -> dict | None:
        if self.proc is None:
            return None
        import signal

        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        if not self.out.exists():
            log(f"--profile: py-spy wrote nothing: {err[-500:]}")
            return None
        text = self.out.read_text()
        shutil.rmtree(self.out.parent, ignore_errors=True)
        inclusive, own, leaf_lib, ours_leaf, total = {}, {}, {}, {}, 0
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            c = int(count)
            total += c
            frames = []
            for raw in stack.split(";"):
                m = FRAME_RE.match(raw)
                frames.append((_short(m.group("file")), m.group("func")) if m else (raw, ""))
            for where in {f"{f}:{fn}" for f, fn in frames}:
                inclusive[where] = inclusive.get(where, 0) + c
            leaf = frames[-1]
            own[f"{leaf[0]}:{leaf[1]}"] = own.get(f"{leaf[0]}:{leaf[1]}", 0) + c
            lib = leaf[0].split("/", 1)[0] if "/" in leaf[0] else leaf[0]
            leaf_lib[lib] = leaf_lib.get(lib, 0) + c
            mine = [f"{f}:{fn}" for f, fn in frames if _ours(f)]
            key = mine[-1] if mine else "(outside the app: streamlit runtime, server, threads)"
            ours_leaf[key] = ours_leaf.get(key, 0) + c
        ms = lambda c: round(c * 1000 / self.rate)  # noqa: E731
        share = lambda c: round(c / max(1, total), 4)  # noqa: E731
        top = lambda d, n: [{"where": k, "ms": ms(v), "share": share(v)}  # noqa: E731
                            for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:n]]
        return {
            "rate_hz": self.rate, "mode": "GIL holder" if self.gil else "non-idle threads",
            "samples": total, "thread_ms": ms(total),
            "interactions": {k: len(v) for k, v in times.items()},
            # inclusive time of the app's own functions (what they and everything they call cost)
            "hot": [row for row in top(inclusive, 400) if _ours(row["where"].rsplit(":", 1)[0])][:20],
            # the innermost app frame of each sample: which line of ours the time is spent under
            "under": top(ours_leaf, 15),
            # where the samples were when taken (library internals included)
            "self": top(own, 15),
            "by_library": top(leaf_lib, 10),
        }


# ------------------------------------------------------------------------------------ a small HTTP/1.1 client


async def http(host: str, port: int, method: str, path: str, headers: dict | None = None, body: bytes = b"",
               timeout: float = 30) -> tuple[int, dict[str, list[str]], bytes]:
    """One request on a fresh connection (``Connection: close``); returns (status, headers, body)."""

    async def go():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                    f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        top, _, rest = raw.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        out: dict[str, list[str]] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            out.setdefault(k.strip().lower(), []).append(v.strip())
        if "chunked" in ",".join(out.get("transfer-encoding", [])):
            data, chunks = rest, []
            while data:
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    break
                chunks.append(data[:size])
                data = data[size + 2:]
            rest = b"".join(chunks)
        return status, out, rest

    return await asyncio.wait_for(go(), timeout)


# ------------------------------------------------------------------------------------------------- photos


def make_photo(seed: int, size=(320, 240)) -> bytes:
    """A generated JPEG "photo": smooth colour gradients, a few blobs and sensor noise, different per seed."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    base, slope = rng.uniform(40, 200, 3), rng.uniform(-0.4, 0.4, (2, 3))
    img += base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    for _ in range(int(rng.integers(2, 6))):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(15, 90)
        mask = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - mask) + rng.uniform(0, 255, 3) * mask
    img += rng.normal(0, 6, img.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------- a visitor


class VisitorError(Exception):
    """An error that ends this visitor's run (disconnect, protocol failure)."""


@dataclass
class Widget:
    id: str
    kind: str
    fragment_id: str
    element: object


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=lambda: {"held_out_echo": 0, "held_out_text": 0,
                                                           "slider_echo": 0, "slider_metric": 0, "photo": 0})
    interactions: int = 0
    skipped: int = 0
    fragment_runs: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})


HELD_RE = re.compile(r"\b(?:%s)(?: \+ (?:%s))+\b" % (("|".join(CLASS_NAMES),) * 2))


class Visitor:
    """One browser tab's worth of protocol: a websocket session that reruns pages and reads what comes back."""

    def __init__(self, index: int, port: int, results: Results, timeout: float):
        self.index, self.port, self.results, self.timeout = index, port, results, timeout
        self.ws = None
        self.session_id = ""
        self.pages: dict[str, str] = {}  # url path -> page_script_hash
        self.page_hash = ""
        self.widgets: dict[str, Widget] = {}  # user key -> widget on the current page
        self.states: dict[str, object] = {}  # widget id -> WidgetState proto (what the browser would send)
        self.events: asyncio.Queue = asyncio.Queue()
        self.file_urls: dict[str, asyncio.Future] = {}
        self.run_elements: list[tuple[str, object]] = []
        self.run_errors: list[str] = []
        self.closed: str | None = None
        self.held: tuple[str, ...] = ()
        self.pct: float | None = None
        self.photo_name: str | None = None
        self.reader_task = None
        self.xsrf = ""
        self.uploaded = None

    # -- connection ------------------------------------------------------------------------------------
    async def connect(self) -> None:
        import websockets

        status, headers, _ = await http("127.0.0.1", self.port, "GET", "/_stcore/health", timeout=self.timeout)
        if status != 200:
            raise VisitorError(f"health check answered {status}")
        for cookie in headers.get("set-cookie", []):
            name, _, rest = cookie.partition("=")
            if name.strip() == "_streamlit_xsrf":
                self.xsrf = rest.split(";")[0]
        protocols = ["streamlit"] + ([self.xsrf] if self.xsrf else [])
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=protocols, max_size=None,
            additional_headers={"Cookie": f"_streamlit_xsrf={self.xsrf}"} if self.xsrf else None,
            open_timeout=self.timeout, ping_interval=None)
        self.reader_task = asyncio.create_task(self._reader(), name=f"visitor-{self.index}-reader")

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader_task is not None:
            self.reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self.reader_task

    async def _reader(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._on_message(msg)
        except Exception as error:  # noqa: BLE001 - any end of the stream is a disconnect for the visitor
            self.closed = f"{type(error).__name__}: {error}"
        else:
            self.closed = "the server closed the websocket"
        await self.events.put(("closed", self.closed, None))

    def _on_message(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            self.events.put_nowait(("started", msg.metadata.run.script_run_id, list(msg.metadata.run.fragment_ids)))
        elif kind == "script_finished":
            self.events.put_nowait(("finished", msg.metadata.run.script_run_id, msg.script_finished))
        elif kind == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "delta":
            delta = msg.delta
            if delta.WhichOneof("type") == "new_element":
                element_kind = delta.new_element.WhichOneof("type")
                element = getattr(delta.new_element, element_kind)
                self.run_elements.append((element_kind, element))
                widget_id = getattr(element, "id", "") if element_kind in (
                    "slider", "multiselect", "file_uploader", "button", "radio", "selectbox") else ""
                if widget_id.startswith("$$ID-"):
                    key = widget_id.split("-", 2)[2]
                    self.widgets[key] = Widget(widget_id, element_kind, delta.fragment_id, element)
                if element_kind == "exception":
                    self.run_errors.append(f"exception {element.type}: {element.message[:200]}")
                elif element_kind == "alert" and element.format == 1:  # Alert.Format.ERROR
                    self.run_errors.append(f"st.error: {element.body[:200]}")
        elif kind == "file_urls_response":
            future = self.file_urls.pop(msg.file_urls_response.response_id, None)
            if future is not None and not future.done():
                future.set_result(msg.file_urls_response)
        elif kind == "session_event":
            if msg.session_event.WhichOneof("type") == "script_compilation_exception":
                self.run_errors.append(f"compile error: {msg.session_event.script_compilation_exception.message}")
        elif kind == "page_not_found":
            self.run_errors.append(f"page not found: {msg.page_not_found.page_name}")

    # -- one interaction: send, then wait for the script run it started to finish -------------------------
    async def _send(self, back) -> None:
        if self.closed:
            raise VisitorError(f"disconnected: {self.closed}")
        await self.ws.send(back.SerializeToString())

    def _rerun(self, page_name: str = "", page_hash: str | None = None, fragment_id: str = ""):
        from streamlit.proto.BackMsg_pb2 import BackMsg

        back = BackMsg()
        state = back.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_hash if page_hash is None else page_hash
        state.page_name = page_name
        state.fragment_id = fragment_id
        on_page = {w.id for w in self.widgets.values()}  # the browser sends the states of the widgets it shows
        for widget_id, widget_state in self.states.items():
            if widget_id in on_page:
                state.widget_states.widgets.append(widget_state)
        return back

    async def interact(self, kind: str, back, before=None) -> tuple[float, int]:
        """Send ``back`` (after the coroutine ``before``, timed too) and wait for the run it starts to finish.

        Returns the seconds from the send to that run's ``script_finished``, and its status."""
        while not self.events.empty():
            event = self.events.get_nowait()
            if event[0] == "closed":
                raise VisitorError(f"disconnected: {event[1]}")
        self.run_elements, self.run_errors = [], []
        t = time.perf_counter()
        if before is not None:
            back = await before(back)
        await self._send(back)
        deadline = t + self.timeout
        run_id = None
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise asyncio.TimeoutError
            event = await asyncio.wait_for(self.events.get(), left)
            if event[0] == "closed":
                raise VisitorError(f"disconnected: {event[1]}")
            if event[0] == "started":
                run_id = event[1]
            elif event[0] == "finished" and event[1] == run_id:
                if event[2] == EARLY_FOR_RERUN:  # another run follows (st.rerun); wait for it
                    run_id = None
                    continue
                seconds = time.perf_counter() - t
                if event[2] == COMPILE_ERROR:
                    self.run_errors.append("script finished with a compile error")
                return seconds, event[2]

    async def step(self, kind: str, back, before=None) -> bool:
        """An interaction with error accounting: the time goes to ``kind``; False when the visitor must stop."""
        result = self.results
        result.interactions += 1
        try:
            seconds, status = await self.interact(kind, back, before)
        except asyncio.TimeoutError:
            result.errors.append(f"v{self.index} {kind}: no script_finished within {self.timeout:.0f} s")
            return False
        except VisitorError as error:
            result.errors.append(f"v{self.index} {kind}: {error}")
            return False
        except OSError as error:
            result.errors.append(f"v{self.index} {kind}: {type(error).__name__}: {error}")
            return False
        result.times[kind].append(seconds)
        result.fragment_runs[kind] += status == FRAGMENT_FINISHED
        for message in self.run_errors:
            result.errors.append(f"v{self.index} {kind}: {message}")
        self.check(kind)
        return True

    # -- what a student does -------------------------------------------------------------------------------
    async def open(self, page: str = "") -> bool:
        async def connect_first(back):
            await self.connect()
            return back

        return await self.step("open", self._rerun(page_name=page, page_hash=""), before=connect_first)

    async def goto(self, page: str) -> bool:
        if page not in self.pages:
            self.results.errors.append(f"v{self.index}: page {page!r} not in the navigation {sorted(self.pages)}")
            return False
        target = self.pages[page]
        back = self._rerun(page_hash=target)
        self.widgets = {}
        ok = await self.step("page", back)
        self.page_hash = target
        return ok

    def _widget(self, key: str) -> Widget | None:
        widget = self.widgets.get(key)
        if widget is None:
            self.results.errors.append(f"v{self.index}: no widget with key {key!r} on the page")
        return widget

    async def move_slider(self, value: float) -> bool:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        widget = self._widget("novel_pct")
        if widget is None:
            return False
        state = WidgetState(id=widget.id)
        state.double_array_value.data.append(value)
        self.states[widget.id] = state
        self.pct = value
        # The browser reruns only the fragment that holds the widget (the fast path of an @st.fragment).
        return await self.step("slider", self._rerun(fragment_id=widget.fragment_id))

    async def hold_out(self, classes: tuple[str, ...]) -> bool:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        widget = self._widget("unseen")
        if widget is None:
            return False
        state = WidgetState(id=widget.id)
        state.string_array_value.data.extend(classes)
        self.states[widget.id] = state
        self.held = tuple(sorted(classes, key=CLASS_NAMES.index))
        return await self.step("held_out", self._rerun(fragment_id=widget.fragment_id))

    async def upload(self, name: str, data: bytes) -> bool:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        widget = self._widget("upload")
        if widget is None:
            return False
        self.photo_name = name

        async def put_file(back):
            request = BackMsg()
            request.file_urls_request.request_id = uuid.uuid4().hex
            request.file_urls_request.file_names.append(name)
            request.file_urls_request.session_id = self.session_id
            future = asyncio.get_running_loop().create_future()
            self.file_urls[request.file_urls_request.request_id] = future
            await self._send(request)
            response = await asyncio.wait_for(future, self.timeout)
            if response.error_msg or not response.file_urls:
                raise VisitorError(f"file_urls_request refused: {response.error_msg}")
            urls = response.file_urls[0]
            boundary = uuid.uuid4().hex
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                    f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            if self.xsrf:
                headers.update({"X-Xsrftoken": self.xsrf, "Cookie": f"_streamlit_xsrf={self.xsrf}"})
            status, _, text = await http("127.0.0.1", self.port, "PUT", urls.upload_url, headers, body,
                                         timeout=self.timeout)
            if status not in (200, 204):
                raise VisitorError(f"upload PUT answered {status}: {text[:200]!r}")
            previous, self.uploaded = self.uploaded, urls
            state = WidgetState(id=widget.id)
            info = state.file_uploader_state_value.uploaded_file_info.add()
            info.file_id, info.name, info.size = urls.file_id, name, len(data)
            info.file_urls.CopyFrom(urls)
            self.states[widget.id] = state
            back = self._rerun(fragment_id=widget.fragment_id)
            if previous is not None:  # the browser deletes the file it replaces
                await http("127.0.0.1", self.port, "DELETE", previous.delete_url,
                           {"X-Xsrftoken": self.xsrf, "Cookie": f"_streamlit_xsrf={self.xsrf}"} if self.xsrf else {},
                           timeout=self.timeout)
            return back

        return await self.step("upload", None, before=put_file)

    # -- no cross-talk ------------------------------------------------------------------------------------
    def _crosstalk(self, kind: str, what: str) -> None:
        self.results.crosstalk.append(f"v{self.index} after {kind}: {what}")

    def check(self, kind: str) -> None:
        checks = self.results.checks
        own_held = set(self.held)
        for element_kind, element in self.run_elements:
            # A widget echoes a value only when the server sets it (``set_value``); otherwise the browser keeps
            # the value it sent and ``default`` is the widget's bare default (a kept widget passes none), so
            # there is nothing of another session's to see. What the page derives from it is checked below.
            if element_kind == "multiselect" and element.id.endswith("-unseen") and self.held and element.set_value:
                shown = set(element.raw_values)
                checks["held_out_echo"] += 1
                if shown != own_held:
                    self._crosstalk(kind, f"held-out multiselect shows {sorted(shown)}, own {sorted(own_held)}")
            elif (element_kind == "slider" and element.id.endswith("-novel_pct") and self.pct is not None
                  and element.set_value):
                shown = list(element.value)
                checks["slider_echo"] += 1
                if not shown or abs(shown[0] - self.pct) > 1e-6:
                    self._crosstalk(kind, f"slider shows {shown}, own {self.pct}")
            elif element_kind == "metric" and element.label == "Called novel" and self.pct is not None:
                with contextlib.suppress(ValueError):
                    shown = float(element.body.rstrip("%"))
                    checks["slider_metric"] += 1
                    if abs(shown - self.pct) > 1.0:  # 400 test images: 0.25 % steps
                        self._crosstalk(kind, f"'Called novel' shows {element.body}, own slider {self.pct}%")
            elif element_kind == "imgs" and self.photo_name is not None and kind == "upload":
                captions = [img.caption for img in element.imgs if img.caption]
                if any(c.endswith((".jpg", ".jpeg", ".png")) for c in captions):
                    checks["photo"] += 1
                    if self.photo_name not in captions:
                        self._crosstalk(kind, f"photo caption {captions}, own {self.photo_name}")
            if self.held:
                for text in _texts(element_kind, element):
                    for match in HELD_RE.finditer(text):
                        checks["held_out_text"] += 1
                        shown = set(match.group(0).split(" + "))
                        if shown != own_held:
                            self._crosstalk(kind, f"text names held-out {match.group(0)!r}, own {sorted(own_held)}")
        if kind == "upload" and not any(k == "metric" and e.label == "Predicted class" for k, e in self.run_elements):
            self.results.errors.append(f"v{self.index} upload: no verdict ('Predicted class' metric) on the page")


def _texts(kind: str, element) -> list[str]:
    if kind == "markdown":
        return [element.body]
    if kind == "metric":
        return [element.label, element.help]
    if kind == "alert":
        return [element.body]
    if kind == "spinner":
        return [element.text]
    return []


async def visitor_script(index: int, port: int, args, results: Results, deadline: float) -> None:
    """What one student does (seeded by ``--seed`` and the visitor's index)."""
    rng = random.Random(args.seed * 1000 + index)
    pairs = list(itertools.combinations(CLASS_NAMES, 2))
    await asyncio.sleep(rng.uniform(0, args.ramp))
    visitor = Visitor(index, port, results, args.timeout)
    planned = 1 + args.rounds * (args.moves + 5)

    async def think():
        await asyncio.sleep(rng.uniform(*args.think))

    def slider_value():
        # 20.0 .. 88.9 % on the slider's 0.1 % grid, in tenths congruent to the visitor's index modulo 30, so
        # that no two of 30 visitors ever pick the same value and the echo check can tell them apart.
        if args.distinct:
            return round(20 + (rng.randrange(23) * 30 + index % 30) / 10, 1)
        return round(rng.uniform(2, 90), 1)

    done = 0
    try:
        if not await visitor.open(""):
            return
        done += 1
        visitor.held = ("cat", "truck")  # the app's default held-out pair
        for round_ in range(args.rounds):
            await think()
            if time.perf_counter() > deadline or not await visitor.goto("threshold"):
                return
            done += 1
            for _ in range(args.moves):
                await think()
                if time.perf_counter() > deadline or not await visitor.move_slider(slider_value()):
                    return
                done += 1
            await think()
            pair = rng.choice([p for p in pairs if set(p) != set(visitor.held)])
            if time.perf_counter() > deadline or not await visitor.hold_out(pair):
                return
            done += 1
            await think()
            if time.perf_counter() > deadline or not await visitor.move_slider(slider_value()):
                return
            done += 1
            await think()
            if time.perf_counter() > deadline or not await visitor.goto("classify"):
                return
            done += 1
            await think()
            photo = make_photo(args.seed * 100_000 + index * 100 + round_)
            if time.perf_counter() > deadline or not await visitor.upload(f"v{index:02d}-r{round_}.jpg", photo):
                return
            done += 1
    finally:
        results.skipped += planned - done
        await visitor.close()


# ----------------------------------------------------------------------------------------------- one load level


async def warm_up(port: int, timeout: float) -> None:
    """One unmeasured visit: registers the pages (st.navigation), loads data, features, words, both detectors."""
    results = Results()
    visitor = Visitor(-1, port, results, timeout)
    try:
        ok = await visitor.open("")
        ok = ok and await visitor.goto("threshold")
        ok = ok and await visitor.goto("classify")
        ok = ok and await visitor.upload("warm-up.jpg", make_photo(2**31 - 1))
    finally:
        await visitor.close()
    if not ok or results.errors:
        raise RuntimeError(f"warm-up visit failed: {results.errors}")


async def run_visitors(n: int, port: int, args) -> Results:
    results = Results()
    deadline = time.perf_counter() + args.time_limit
    tasks = [asyncio.create_task(visitor_script(i, port, args, results, deadline)) for i in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=args.time_limit + args.timeout + 30)
    for task in pending:  # bounded in time whatever happens
        task.cancel()
        results.errors.append("a visitor was cancelled at the hard time limit")
    for task in done:
        if task.exception() is not None:
            results.errors.append(f"visitor crashed: {type(task.exception()).__name__}: {task.exception()}")
    return results


async def sweep(port: int, args, server: Server) -> dict:
    """Memory against cached runs: ``--sweep-sessions`` sessions hold out ``--sweep`` distinct sets of 3 and 4
    classes one after another on the Home page (one new model each, never held out by the tour's pairs) while
    the server's RSS is read after each; the slope is what one more cached run costs."""
    sets = [c for k in (3, 4) for c in itertools.combinations(CLASS_NAMES, k)]
    random.Random(args.seed).shuffle(sets)
    todo = sets[: args.sweep]
    results = Results()
    points = [(0, server.memory_kb()[0] / 1024)]
    deadline = time.perf_counter() + args.time_limit
    t0 = time.perf_counter()

    async def worker(i: int) -> None:
        visitor = Visitor(1000 + i, port, results, args.timeout)
        try:
            if not await visitor.open(""):
                return
            visitor.held = ("cat", "truck")
            while todo and time.perf_counter() < deadline:
                if not await visitor.hold_out(todo.pop()):
                    return
                points.append((len(points), server.memory_kb()[0] / 1024))
        finally:
            await visitor.close()

    async def sample() -> None:  # the transient peaks fall between two finished runs
        while True:
            peak[0] = max(peak[0], server.memory_kb()[0] / 1024)
            await asyncio.sleep(0.25)

    peak = [points[0][1]]
    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(worker(i) for i in range(args.sweep_sessions)))
    seconds = time.perf_counter() - t0
    await asyncio.sleep(5)  # let the last fits' working memory go
    sampler.cancel()
    rss = np.array([r for _, r in points] + [server.memory_kb()[0] / 1024])
    sets = len(points) - 1
    # RSS climbs while fits run and falls back when their memory is returned (a sawtooth), so growth is read
    # from the troughs: the lowest RSS in the first and in the second half of the sweep.
    half = max(1, sets // 2)
    first, second = rss[1: half + 1], rss[half + 1: -1]
    return {
        "sets": sets, "sessions": args.sweep_sessions, "seconds": round(seconds, 1),
        "rss_before_mb": round(rss[0], 1), "rss_after_mb": round(rss[-1], 1), "rss_peak_mb": round(peak[0], 1),
        "rss_trough_first_half_mb": round(first.min(), 1) if len(first) else None,
        "rss_trough_second_half_mb": round(second.min(), 1) if len(second) else None,
        "cap_entries": SLOT_CAP,
        "held_out_change_p50_s": pct(results.times["held_out"], 50),
        "held_out_change_p95_s": pct(results.times["held_out"], 95),
        "errors": len(results.errors), "crosstalk": len(results.crosstalk), "error_examples": results.errors[:4],
        "rss_points_mb": [(c, round(r)) for c, r in points[:: max(1, len(points) // 30)]],
    }


def level(n: int, args, env: dict[str, str]) -> dict:
    """Start a server, warm it, run ``n`` visitors, stop it; the figures of this level."""
    t_start = time.perf_counter()
    server = Server(env, args.option)
    spy = hot = None
    try:
        start_s = time.perf_counter() - t_start
        t = time.perf_counter()
        asyncio.run(warm_up(server.port, max(args.timeout, 300)))
        warm_s = time.perf_counter() - t
        rss_warm, _ = server.memory_kb()
        log(f"N={n}: server on 127.0.0.1:{server.port} (pid {server.proc.pid}) started in {start_s:.1f} s, "
            f"warm-up visit {warm_s:.1f} s, RSS {rss_warm / 1024:.0f} MB")
        if args.profile:
            spy = Profiler(server.proc.pid, args.profile_rate, gil=not args.profile_all_threads)
        browser_results: dict = {}
        browser_thread = None
        if args.browsers > 0:
            browser_thread = threading.Thread(target=browsers, args=(server.port, args, browser_results),
                                              name="playwright", daemon=True)
        client_cpu = time.process_time()
        with Monitor(server) as monitor:
            if browser_thread is not None:
                browser_thread.start()
            results = asyncio.run(run_visitors(n, server.port, args))
            if browser_thread is not None:
                browser_thread.join(args.time_limit + 120)
        client_cpu = time.process_time() - client_cpu
        rss_end, hwm = server.memory_kb()
        swept = None
        if args.sweep > 0 and n == max(args.levels):  # once, after the largest N
            if spy is not None:  # the hot spots are those of the tour, not of the sweep
                hot = spy.stop(results.times)
                spy = None
            log(f"N={n}: memory sweep, {args.sweep} new held-out sets by {args.sweep_sessions} sessions ...")
            swept = asyncio.run(sweep(server.port, args, server))
            log(f"  sweep: {swept['sets']} new runs in {swept['seconds']} s, RSS {swept['rss_before_mb']} -> "
                f"{swept['rss_after_mb']} MB, peak {swept['rss_peak_mb']} MB; lowest RSS in the first half "
                f"{swept['rss_trough_first_half_mb']} MB, in the second {swept['rss_trough_second_half_mb']} MB; "
                f"held-out change p50 "
                f"{swept['held_out_change_p50_s']} s, p95 {swept['held_out_change_p95_s']} s; errors "
                f"{swept['errors']}, cross-talk {swept['crosstalk']}")
            _, hwm = server.memory_kb()
        if spy is not None:
            hot = spy.stop(results.times)
    finally:
        if spy is not None:
            spy.kill()
            shutil.rmtree(spy.out.parent, ignore_errors=True)
        server.close(keep_log=args.keep_log)
    out = {
        "visitors": n,
        "wall_s": round(monitor.wall, 1),
        "interactions": results.interactions,
        "skipped": results.skipped,
        "errors": len(results.errors),
        "crosstalk": len(results.crosstalk),
        "checks": results.checks,
        "fragment_runs": results.fragment_runs,
        "rss_after_warmup_mb": round(rss_warm / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "rss_peak_sampled_mb": round(max([r for _, r in monitor.rss_kb] + [rss_end]) / 1024, 1),
        "vmhwm_mb": round(hwm / 1024, 1),
        "server_cpu_s": round(monitor.cpu, 1),
        "server_cpu_util": round(monitor.cpu / monitor.wall, 2) if monitor.wall else None,
        "client_cpu_s": round(client_cpu, 1),
        "loadavg_mean": round(float(np.mean(monitor.load)), 2) if monitor.load else None,
        "loadavg_max": round(float(np.max(monitor.load)), 2) if monitor.load else None,
    }
    for kind in KINDS:
        values = results.times[kind]
        out[kind] = {"n": len(values), "p50_s": pct(values, 50), "p95_s": pct(values, 95),
                     "max_s": round(max(values), 3) if values else None}
    if browser_results:
        out["browser_slider"] = browser_results
    if swept is not None:
        out["sweep"] = swept
    if hot is not None:
        out["profile"] = hot
    out["error_examples"] = results.errors[:8]
    out["crosstalk_examples"] = results.crosstalk[:8]
    out["rss_series_mb"] = [(round(t, 1), round(r / 1024)) for t, r in monitor.rss_kb[:: max(1, len(monitor.rss_kb) // 40)]]
    return out


def print_level(out: dict) -> None:
    log(f"N={out['visitors']}: wall {out['wall_s']} s, {out['interactions']} interactions "
        f"({out['skipped']} skipped), errors {out['errors']}, cross-talk {out['crosstalk']} "
        f"(checks {out['checks']}; fragment-only runs {out['fragment_runs']})")
    log(f"  {'interaction':<10} {'n':>4} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for kind in KINDS:
        row = out[kind]
        fmt = lambda v: f"{v:7.3f}" if v is not None else "      -"  # noqa: E731
        log(f"  {kind:<10} {row['n']:>4} {fmt(row['p50_s'])} {fmt(row['p95_s'])} {fmt(row['max_s'])}")
    log(f"  server RSS after warm-up {out['rss_after_warmup_mb']} MB, end {out['rss_end_mb']} MB, peak (VmHWM) "
        f"{out['vmhwm_mb']} MB; server CPU {out['server_cpu_s']} s ({out['server_cpu_util']} cores), client CPU "
        f"{out['client_cpu_s']} s; "
        f"load average mean {out['loadavg_mean']}, max {out['loadavg_max']}")
    if out.get("browser_slider"):
        log(f"  Chromium cross-check: {out['browser_slider']}")
    for line in out["error_examples"]:
        log(f"  error: {line}")
    for line in out["crosstalk_examples"]:
        log(f"  cross-talk: {line}")
    if out.get("profile"):
        log("  server hot spots (py-spy):")
        prof = out["profile"]
        log(f"    {prof['samples']} samples ({prof['mode']}) at {prof['rate_hz']} Hz = "
            f"{prof['thread_ms'] / 1000:.1f} thread-s")
        for title, rows in (("inclusive, app functions", prof["hot"][:15]),
                            ("innermost app frame", prof["under"][:10]),
                            ("self (leaf frame)", prof["self"][:10]), ("leaf library", prof["by_library"])):
            log(f"    -- {title}")
            for row in rows:
                log(f"    {row['share']:6.1%}  {row['ms']:8.0f} ms  {row['where']}")


# --------------------------------------------------------------------------------- the Chromium cross-check


def browsers(port: int, args, out: dict) -> None:
    """``--browsers`` real Chromium pages moving the slider on the Threshold page (latency from the click to
    the app's ``data-test-script-state`` returning to ``notRunning``, seen by a MutationObserver)."""
    from playwright.sync_api import sync_playwright

    chromium = "/usr/bin/chromium"
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--no-first-run"]
    times, errors = [], []
    rng = random.Random(args.seed + 7)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=flags)
            pages = []
            for _ in range(args.browsers):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.set_default_timeout(args.timeout * 1000)
                page.goto(f"http://127.0.0.1:{port}/threshold")
                page.wait_for_selector('[data-testid="stSlider"]')
                page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
                page.evaluate("""() => {
                    window.__states = [];
                    const app = document.querySelector('[data-testid="stApp"]');
                    new MutationObserver(() => window.__states.push(
                        [performance.now(), app.getAttribute('data-test-script-state')]
                    )).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
                }""")
                pages.append(page)
            for _ in range(args.rounds * (args.moves + 1)):
                for page in pages:
                    track = page.locator('[data-testid="stSlider"] [role="group"] > div').first
                    box = track.bounding_box()
                    t0 = page.evaluate("performance.now()")
                    page.mouse.click(box["x"] + rng.uniform(0.05, 0.95) * box["width"], box["y"] + box["height"] / 2)
                    end = time.time() + args.timeout
                    while time.time() < end:
                        states = page.evaluate("window.__states")
                        after = [(t, s) for t, s in states if t >= t0]
                        ran = [t for t, s in after if s == "running"]
                        done = [t for t, s in after if s == "notRunning" and ran and t > ran[0]]
                        if done:
                            times.append((done[0] - t0) / 1000)
                            break
                        time.sleep(0.02)
                    else:
                        errors.append("no script run finished after a slider click")
                    if page.locator('[data-testid="stException"]').count():
                        errors.append(page.locator('[data-testid="stException"]').first.inner_text()[:200])
                    time.sleep(rng.uniform(*args.think))
            browser.close()
    except Exception as error:  # noqa: BLE001 - reported, never fatal to the protocol figures
        errors.append(f"{type(error).__name__}: {error}")
    out.update({"pages": args.browsers, "n": len(times), "p50_s": pct(times, 50), "p95_s": pct(times, 95),
                "errors": len(errors), "error_examples": errors[:3]})


# ------------------------------------------------------------------------------------------------------ main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", default="1,10,30", help="comma-separated N, one server per N")
    parser.add_argument("--rounds", type=int, default=2, help="times each visitor goes through the tour")
    parser.add_argument("--moves", type=int, default=3, help="slider moves per visit of the Threshold page")
    parser.add_argument("--think", default="1,3", help="think time between actions, seconds: min,max")
    parser.add_argument("--ramp", type=float, default=5.0, help="visitors arrive within this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120, help="seconds one interaction may take")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds per N before visitors stop")
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy while the visitors run (pip install py-spy)")
    parser.add_argument("--profile-rate", type=int, default=50, help="py-spy samples per second")
    parser.add_argument("--profile-all-threads", action="store_true",
                        help="sample every non-idle thread, not only the one holding the GIL")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a Streamlit config option for the server, e.g. runner.postScriptGC=false")
    parser.add_argument("--browsers", type=int, default=0, help="Chromium pages moving the slider alongside")
    parser.add_argument("--no-distinct", dest="distinct", action="store_false",
                        help="let visitors pick the same slider values")
    parser.add_argument("--cache", help="cache folder (default: the tests' shared cache)")
    parser.add_argument("--fresh-models", action="store_true",
                        help="a cache whose fitted models start empty (the rest linked to --cache), so every "
                             "held-out set is trained as in a class's first session")
    parser.add_argument("--sweep", type=int, default=0, metavar="K",
                        help="after the largest N's tour, hold out K new sets of 3-4 classes and fit RSS against "
                             "the number of runs cached")
    parser.add_argument("--sweep-sessions", type=int, default=10)
    parser.add_argument("--keep-log", action="store_true", help="keep the server's log (its path is printed)")
    args = parser.parse_args(argv)
    args.think = tuple(float(v) for v in args.think.split(","))
    args.levels = [int(v) for v in args.visitors.split(",")]
    return args


def main(argv=None) -> dict:
    import signal

    args = parse_args(argv)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the server is stopped and temporary files removed.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    if not data_path().exists():
        sys.exit(f"test data {data_path()} not found (set ZSL_TEST_DATA)")
    env = environment()
    if args.cache:
        env["ZSL_CACHE_DIR"] = args.cache
    fresh = None
    if args.fresh_models:

        base = Path(env["ZSL_CACHE_DIR"])
        fresh = Path(tempfile.mkdtemp(prefix="zsl-load-cache-"))
        for sub in base.iterdir() if base.is_dir() else []:
            if sub.name != "models":
                (fresh / sub.name).symlink_to(sub.resolve(), target_is_directory=sub.is_dir())
        (fresh / "models").mkdir()
        for model in (base / "models").glob("*.onnx*"):  # the feature extractor's exported network
            (fresh / "models" / model.name).symlink_to(model.resolve())
        env["ZSL_CACHE_DIR"] = str(fresh)
    log(f"load test: N = {args.levels}, {args.rounds} rounds of {args.moves} slider moves + held-out change + "
        f"slider + upload, think {args.think[0]}-{args.think[1]} s, seed {args.seed}; cache {env['ZSL_CACHE_DIR']}; "
        f"subset {env['ZSL_APP_SUBSET']}; {os.cpu_count()} CPUs, load average "
        f"{Path('/proc/loadavg').read_text().split()[0]} before")
    levels = []
    try:
        for n in args.levels:
            if fresh is not None:  # every level fits its models from nothing
                for model in (fresh / "models").glob("zsl-*"):
                    model.unlink()
            out = level(n, args, env)
            print_level(out)
            levels.append(out)
    finally:
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
    summary = {
        "bench": "load",
        "transport": "websocket (BackMsg/ForwardMsg)",
        "subset_per_class": env["ZSL_APP_SUBSET"],
        "options": args.option, "fresh_models": args.fresh_models, "rounds": args.rounds, "moves": args.moves, "think_s": list(args.think), "seed": args.seed,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "levels": [{k: v for k, v in lv.items() if k not in ("rss_series_mb",)} for lv in levels],
    }
    last = levels[-1]
    summary["target_30"] = {
        "slider_p95_s": last["slider"]["p95_s"], "errors": last["errors"], "crosstalk": last["crosstalk"],
        "met": bool(last["visitors"] >= 30 and last["slider"]["p95_s"] is not None
                    and last["slider"]["p95_s"] <= 1.0 and last["errors"] == 0 and last["crosstalk"] == 0),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
