"""A Mesos task's ``stdout``/``stderr``, read from its sandbox, for Airflow's task log view.

Airflow's api-server calls ``executor.get_task_log(ti, try_number)`` while a task
instance is RUNNING (``FileTaskHandler._read``).  That process has no scheduler
memory, so everything is found again from two inputs: the master address and
the Mesos task id (the TI's ``external_executor_id``), optionally the
framework id.  :func:`read_task_logs` then walks Mesos' read-only endpoints:

1. the leading master: the URLs in turn (a standby answers 307 to the leader),
   or a one-shot ZooKeeper lookup for ``zk://``;
2. ``GET /master/tasks?task_id=..`` for the task's agent and executor;
3. ``GET /master/slaves?slave_id=..`` for that agent's HTTP address;
4. the agent's ``GET /state`` for the executor's sandbox ``directory``;
5. the agent's ``GET /files/read`` for ``<directory>/stdout`` and ``stderr``:
   the size first (``offset=-1``), then at most the last ``max_bytes`` bytes.
   A task in an executor shared with other tasks (a warm worker: its executor
   id is not the task id) has its files in that executor's sandbox, under
   ``<directory>/tasks/<task_id>/`` (where the warm executor writes them, as
   Mesos' default executor lays out its tasks' sandboxes); the executor's own
   ``stdout``/``stderr`` are the executor's, not the task's.

What comes back is ``(messages, logs)``, the shape ``get_task_log`` returns:

- ``messages`` land in the log view's "Log message source details" group.  Any
  message at all makes Airflow skip the worker log server (as with the
  KubernetesExecutor), which a Mesos task does not run anyway;
- ``logs`` are text blobs that Airflow splits into lines and parses one by one
  with ``StructuredLogMessage.model_validate_json``, falling back to the plain
  line.  The worker (``execute_workload``) writes its logs and the task's to
  stdout as JSON lines with ``timestamp``/``level``/``event``, so stdout is
  returned unchanged.  stderr holds what no JSON log carries: the executor's
  "Starting task" and exit lines, and anything the worker printed before its
  logging was set up (a bad workload, an import error).  Each of its lines becomes
  JSON ``{"event": line, "logger": "mesos.sandbox.stderr"}`` and the block comes
  first.  Lines without a timestamp sort before every timestamped one when nothing
  precedes them, so the block stays whole and on top whatever order stdout's
  timestamps are in (after it, they would sort among stdout by its last
  timestamp); as plain text, Airflow would guess a timestamp from each line's
  first word.  When stdout has lines too, the block is a ``::group::`` the UI
  folds; alone, it is the whole story (the worker died early) and stays open.

Trouble with Mesos (no leader, task or agent unknown, sandbox gone) never
raises: it is one message naming the master, task and agent, with empty logs.
Secrets are sent only in the ``Authorization`` header and never appear in a
message.

The decisions (which task, which agent address, which sandbox, which bytes to
keep, how to render them) are pure functions; only :func:`read_task_logs` and
its helpers do I/O, through an injectable ``httpx.Client``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_mesos.mesos.detector import master_urls_once
from airflow_mesos.mesos.errors import MasterDetectionError
from airflow_mesos.mesos.transport import ssl_context

__all__ = [
    "DEFAULT_MAX_BYTES",
    "STDERR_LOGGER",
    "SandboxFile",
    "TaskLocation",
    "agent_base_url",
    "file_bytes",
    "find_agent",
    "find_sandbox",
    "find_task_files",
    "find_tasks",
    "task_files_dir",
    "keep_tail",
    "read_task_logs",
    "render_logs",
    "tail_start",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 20
"""Bytes of each file shown at most (its end): a log view, not an archive."""

READ_CHUNK = 64 * 1024
"""Bytes asked for per ``/files/read``.  Mesos serves at most 16 pages per read (64 KiB on 4 KiB pages, more on
larger pages), so a read of this size returns exactly what was asked unless the file ended or shrank."""

MAX_REDIRECTS = 3
"""307 hops followed from a standby master; one is normal, more means masters that disagree."""

MAX_ERROR_TEXT = 300
"""Characters of an error answer's body quoted in a message (Mesos puts a one-line reason there)."""

STDERR_LOGGER = "mesos.sandbox.stderr"
"""``logger`` of the stderr lines, so the UI's source filter can show or hide them."""

STDERR_GROUP = "Mesos sandbox stderr (executor messages, output from before the task's logging started)"

TERMINAL_STATES = frozenset({
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
})


# ------------------------------------------------------------------------------------------------ pure


@dataclass(frozen=True)
class TaskLocation:
    """Where a task ran, from the master's task JSON (``/master/tasks`` or ``/master/state``)."""

    task_id: str
    framework_id: str
    agent_id: str
    executor_id: str
    """The task's executor; the command and Docker executors of a task are named after the task."""
    state: str
    last_update: float
    """Timestamp of the newest status (0 without any), to pick the latest of several matches."""

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL_STATES


def _task_lists(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every task model in a ``/master/tasks`` or ``/master/state``/``/master/frameworks`` document."""
    for task in document.get("tasks") or []:
        yield task
    for key in ("frameworks", "completed_frameworks"):
        for framework in document.get(key) or []:
            if not isinstance(framework, Mapping):
                continue
            for tasks_key in ("tasks", "unreachable_tasks", "completed_tasks"):
                yield from framework.get(tasks_key) or []
    yield from document.get("orphan_tasks") or []


def _last_update(task: Mapping[str, Any]) -> float:
    stamps = [s.get("timestamp") for s in task.get("statuses") or [] if isinstance(s, Mapping)]
    return max((float(t) for t in stamps if isinstance(t, (int, float)) and not isinstance(t, bool)), default=0.0)


def find_tasks(document: Mapping[str, Any], task_id: str, framework_id: str | None = None) -> list[TaskLocation]:
    """The tasks named ``task_id`` (in ``framework_id`` if given) in a master's task or state JSON, best first.

    Task ids are unique per framework only, and a framework may reuse the id of a finished task, so several can
    match: live ones come first, then the most recently updated.  Entries without an agent are left out (the
    agent is where the sandbox is).
    """
    found: dict[tuple[str, str, str], TaskLocation] = {}
    for task in _task_lists(document):
        if not isinstance(task, Mapping) or task.get("id") != task_id:
            continue
        fid = task.get("framework_id")
        if not isinstance(fid, str) or (framework_id is not None and fid != framework_id):
            continue
        agent_id = task.get("slave_id") or task.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            continue
        location = TaskLocation(
            task_id=task_id, framework_id=fid, agent_id=agent_id,
            executor_id=task.get("executor_id") or task_id, state=str(task.get("state") or ""),
            last_update=_last_update(task),
        )
        key = (fid, agent_id, location.executor_id)
        # /master/state lists a task once; the same record twice (e.g. tasks and completed_tasks while moving)
        # keeps the newer view.
        if key not in found or (location.live, location.last_update) > (found[key].live, found[key].last_update):
            found[key] = location
    return sorted(found.values(), key=lambda t: (t.live, t.last_update), reverse=True)


def find_agent(document: Mapping[str, Any], agent_id: str) -> Mapping[str, Any] | None:
    """The agent entry with ``agent_id`` in ``/master/slaves`` or ``/master/state`` JSON (registered agents only)."""
    for agent in document.get("slaves") or []:
        if isinstance(agent, Mapping) and agent.get("id") == agent_id:
            return agent
    return None


_PID = re.compile(r"^[^@]+@(?P<host>\[[^\]]+\]|[^:]+):(?P<port>\d{1,5})$")


def agent_base_url(agent: Mapping[str, Any], scheme: str = "http") -> str:
    """The HTTP base URL of an agent from the master's agent entry.

    ``pid`` (``slave(1)@10.0.0.5:5051``) names the address the agent's libprocess is bound to, which needs no
    DNS, so it is preferred; ``hostname`` + ``port`` is the fallback.

    :raises ValueError: if the entry has neither.
    """
    pid = agent.get("pid")
    if isinstance(pid, str):
        match = _PID.match(pid.strip())
        if match:
            return f"{scheme}://{match['host']}:{int(match['port'])}"
    host, port = agent.get("hostname"), agent.get("port")
    if isinstance(host, str) and host and isinstance(port, int) and not isinstance(port, bool) and port > 0:
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"
    raise ValueError(f"agent {agent.get('id', '?')!r} has no usable pid or hostname/port in the master's JSON")


def find_sandbox(agent_state: Mapping[str, Any], location: TaskLocation) -> str | None:
    """The sandbox directory of ``location``'s executor in an agent's ``/state`` JSON, or ``None``.

    Looks in ``frameworks`` and ``completed_frameworks``, at ``executors`` before ``completed_executors`` (a
    reused executor id has several runs; the live one, else the last completed one, is the task's), first by
    executor id, then for an executor that lists the task (custom executors).
    """
    found = _find_executor(agent_state, location)
    return None if found is None else found[1]


def find_task_files(agent_state: Mapping[str, Any], location: TaskLocation) -> str | None:
    """The directory holding ``location``'s stdout and stderr, from an agent's ``/state`` JSON, or ``None``.

    The executor's sandbox for a task with an executor of its own, ``<sandbox>/tasks/<task id>`` for a task of
    a shared (warm-worker) executor: see :func:`task_files_dir`.  The executor is the one found by
    :func:`find_sandbox`; its id comes from the agent (the executor listing the task) when the master did
    not name it.
    """
    found = _find_executor(agent_state, location)
    if found is None:
        return None
    executor_id, directory = found
    return task_files_dir(directory, TaskLocation(location.task_id, location.framework_id, location.agent_id,
                                                  executor_id, location.state, location.last_update))


def _find_executor(agent_state: Mapping[str, Any], location: TaskLocation) -> tuple[str, str] | None:
    """``(executor id, sandbox directory)`` of the executor of ``location`` (see :func:`find_sandbox`)."""
    candidates: list[Mapping[str, Any]] = []
    for key in ("frameworks", "completed_frameworks"):
        for framework in agent_state.get(key) or []:
            if not isinstance(framework, Mapping) or framework.get("id") != location.framework_id:
                continue
            candidates.extend(reversed([e for e in framework.get("executors") or [] if isinstance(e, Mapping)]))
            candidates.extend(reversed([e for e in framework.get("completed_executors") or []
                                        if isinstance(e, Mapping)]))

    def directory(executor: Mapping[str, Any]) -> str | None:
        value = executor.get("directory")
        return value if isinstance(value, str) and value else None

    for executor in candidates:
        if executor.get("id") == location.executor_id and directory(executor):
            return location.executor_id, directory(executor)
    for executor in candidates:
        for tasks_key in ("tasks", "queued_tasks", "completed_tasks"):
            for task in executor.get(tasks_key) or []:
                if isinstance(task, Mapping) and task.get("id") == location.task_id and directory(executor):
                    executor_id = executor.get("id")
                    return (executor_id if isinstance(executor_id, str) and executor_id else location.task_id,
                            directory(executor))
    return None


def task_files_dir(directory: str, location: TaskLocation) -> str:
    """Where ``location``'s stdout and stderr are, in its executor's sandbox ``directory``.

    A task with an executor of its own (command and Docker tasks: the executor id is the task id) writes them
    at the top of the sandbox; a task of a shared executor (a warm worker) in ``tasks/<task id>/`` of it.
    """
    if location.executor_id == location.task_id:
        return directory
    return f"{directory.rstrip('/')}/tasks/{location.task_id}"


def tail_start(size: int, max_bytes: int) -> int:
    """Where to start reading a file of ``size`` bytes to keep at most its last ``max_bytes``.

    One byte before the window is read too: :func:`keep_tail` then knows whether the window starts on a line.
    """
    if size <= max_bytes:
        return 0
    return size - max_bytes - 1


def keep_tail(data: bytes, start: int) -> bytes:
    """What to show of ``data`` read from offset ``start`` (:func:`tail_start`): from the first whole line on.

    ``start == 0`` is the whole file.  Otherwise the partial first line (with the extra byte before the window)
    is dropped; a window without any newline, one long line, is kept from its second byte on rather than dropped.
    """
    if start == 0:
        return data
    newline = data.find(b"\n")
    if newline == -1:
        return data[1:]
    return data[newline + 1:]


def file_bytes(data: Any) -> bytes:
    """The bytes in a ``/files/read`` answer's ``data``.

    Mesos sends the file's raw bytes inside the JSON string (not base64); the body is decoded with
    ``surrogateescape``, so bytes that are not UTF-8 come back as they were, and a multi-byte character split
    between two reads is whole again once the pieces are joined.

    :raises ValueError: if ``data`` is not a string.
    """
    if not isinstance(data, str):
        raise ValueError(f"'data' is {type(data).__name__}, expected a string")
    try:
        return data.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # an escaped lone surrogate (\\ud800) that is no escaped byte
        return data.encode("utf-8", "replace")


@dataclass(frozen=True)
class SandboxFile:
    """What was read of one sandbox file: its size and the bytes kept (the whole file or its tail)."""

    name: str
    size: int
    data: bytes
    start: int = 0
    """Offset the read began at; > 0 means only the tail is in ``data``."""

    @property
    def truncated(self) -> bool:
        return self.start > 0

    def describe(self, max_bytes: int) -> str:
        if not self.truncated:
            return f"{self.name}: {self.size} bytes"
        return (f"{self.name}: the last {len(self.data)} of {self.size} bytes, from a line boundary "
                f"(earlier output is left out; at most {max_bytes} bytes are shown)")


def _stderr_block(text: str, folded: bool) -> str:
    lines = [json.dumps({"event": line, "logger": STDERR_LOGGER}) for line in text.splitlines()]
    if lines and folded:
        lines = [json.dumps({"event": f"::group::{STDERR_GROUP}"}), *lines, json.dumps({"event": "::endgroup::"})]
    return "\n".join(lines)


def render_logs(stdout: bytes | None, stderr: bytes | None) -> list[str]:
    """The ``logs`` part of ``get_task_log``'s answer: stderr as a JSON block (folded when stdout has lines too),
    then stdout as it is.  Empty or missing files give no entry; undecodable bytes become U+FFFD.
    """
    stdout_text = stdout.decode("utf-8", "replace") if stdout else ""
    block = _stderr_block(stderr.decode("utf-8", "replace"), folded=bool(stdout_text.strip())) if stderr else ""
    return [text for text in (block, stdout_text) if text]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def redact_credentials(text: str, secret: str | None) -> str:
    """A message as shown: without the secret and without credentials in any URL (``//user:pw@host``)."""
    text = re.sub(r"//[^/\s@]*:[^/\s@]*@", "//***@", text)
    if secret:
        text = text.replace(secret, "***")
    return text


# ------------------------------------------------------------------------------------------------ edge


class MesosUnavailable(Exception):
    """Mesos cannot give what was asked (logs, state); the message says why, for people."""


@dataclass
class _Answer:
    """A master's 200 answer and the base URL of the master that gave it (the leader)."""

    document: Any
    url: str


class MesosReader:
    """GETs of the masters' and agents' read-only endpoints for one reading: the client, the credentials,
    the leader found (:func:`read_task_logs`, and the UI's Mesos page)."""

    def __init__(self, client: httpx.Client, *, principal: str | None, secret: str | None, timeout: float) -> None:
        self.client = client
        self.principal = principal
        self.timeout = timeout
        self.headers: dict[str, str] = {"Accept": "application/json"}
        if principal is not None and secret is not None:
            token = base64.b64encode(f"{principal}:{secret}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {token}"

    # -- HTTP ------------------------------------------------------------------------------------------
    def get(self, base: str, path: str, params: Mapping[str, Any], who: str) -> tuple[int, Any, httpx.Response]:
        """GET ``base + path``; the parsed JSON of a 200 answer, else ``None``, with the status and response.

        :raises MesosUnavailable: if there is no HTTP answer, or a 200 is not JSON.
        """
        url = base + path
        try:
            response = self.client.get(url, params=dict(params), headers=self.headers, timeout=self.timeout,
                                       follow_redirects=False)
        except httpx.HTTPError as exc:
            raise MesosUnavailable(f"Could not reach {who} at {base}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            return response.status_code, None, response
        try:
            return 200, json.loads(response.content.decode("utf-8", "surrogateescape")), response
        except ValueError:
            raise MesosUnavailable(f"{_cap(who)} at {base} answered GET {path} with something that is not "
                               f"JSON") from None

    def refusal(self, status: int, response: httpx.Response, who: str, base: str, path: str) -> str:
        """A message for an error answer: what was asked, the status, Mesos' reason, and what to do for 401/403."""
        reason = response.text.strip()[:MAX_ERROR_TEXT]
        text = f"{_cap(who)} at {base} answered GET {path} with HTTP {status}" + (f": {reason}" if reason else "")
        if status == 401:
            if self.principal is None:
                text += " (it authenticates read-only endpoints: give a principal and secret)"
            else:
                text += f" (the credentials of principal {self.principal!r} were refused)"
        elif status == 403:
            who_asks = f"principal {self.principal!r}" if self.principal is not None else "anonymous requests"
            text += f" ({who_asks} may not read this)"
        return text

    def master_get(self, masters: Sequence[str], path: str, params: Mapping[str, Any]) -> _Answer:
        """GET a read-only master endpoint from the leader: masters in turn, following standbys' 307s.

        :raises MesosUnavailable: when no master answers it.
        """
        problems: list[str] = []
        for first in masters:
            base = first
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    status, document, response = self.get(base, path, params, "the Mesos master")
                except MesosUnavailable as exc:
                    problems.append(str(exc))
                    break
                if status == 200:
                    return _Answer(document, base)
                if status == 307 and response.headers.get("location"):
                    # Mesos answers with a protocol-relative //leader:port/path; keep our scheme.
                    target = httpx.URL(base).join(response.headers["location"])
                    base = f"{target.scheme}://{target.netloc.decode('ascii')}"
                    continue
                if status == 503:
                    reason = response.text.strip()[:MAX_ERROR_TEXT] or "unavailable"
                    problems.append(f"The Mesos master at {base} answered HTTP 503 ({reason})")
                    break
                raise MesosUnavailable(self.refusal(status, response, "the Mesos master", base, path))
            else:
                problems.append(f"The Mesos master at {first} redirected more than {MAX_REDIRECTS} times")
        raise MesosUnavailable("; ".join(problems) or "no Mesos master address given")

    # -- files -------------------------------------------------------------------------------------------
    def read_file(self, agent_url: str, who: str, path: str, name: str, max_bytes: int) -> SandboxFile | None:
        """At most the last ``max_bytes`` of one sandbox file; ``None`` if the agent has no such file (404).

        :raises MesosUnavailable: if the agent cannot be asked or refuses.
        """
        status, document, response = self.get(agent_url, "/files/read", {"path": path, "offset": -1}, who)
        if status == 404:
            return None
        if status != 200:
            raise MesosUnavailable(self.refusal(status, response, who, agent_url, f"/files/read?path={path}"))
        size = document.get("offset") if isinstance(document, Mapping) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MesosUnavailable(f"{_cap(who)} at {agent_url} gave no size for {path}")
        start = offset = tail_start(size, max_bytes)
        chunks: list[bytes] = []
        while offset < size:
            want = min(READ_CHUNK, size - offset)
            status, document, response = self.get(agent_url, "/files/read",
                                                  {"path": path, "offset": offset, "length": want}, who)
            if status == 404:
                return None  # removed while we read (sandbox garbage collection)
            if status != 200:
                raise MesosUnavailable(self.refusal(status, response, who, agent_url, f"/files/read?path={path}"))
            try:
                data = file_bytes(document.get("data") if isinstance(document, Mapping) else None)
            except ValueError as exc:
                raise MesosUnavailable(f"{_cap(who)} at {agent_url} answered /files/read of {path} "
                                   f"without data: {exc}") from None
            if not data:
                break  # the file shrank under us
            chunks.append(data)
            # Advance by what was asked, not by the re-encoded length: a server that decodes the file itself
            # (replacing a split character) returns a few bytes more text than it read.
            offset += min(want, len(data))
        return SandboxFile(name=name, size=size, data=keep_tail(b"".join(chunks), start), start=start)


def leader_candidates(master: str | Sequence[str], *, zk_scheme: str, timeout: float) -> list[str]:
    """The master URLs to ask, in order; for ``zk://`` the current leader, looked up once.

    :raises MesosUnavailable: for an unusable address, an unreachable ZooKeeper or no registered master.
    """
    if not master:
        raise MesosUnavailable("No Mesos master address is configured")
    try:
        return master_urls_once(master, scheme=zk_scheme, timeout=timeout)
    except MasterDetectionError as exc:
        raise MesosUnavailable(str(exc)) from None


def read_task_logs(
    master: str | Sequence[str],
    task_id: str,
    *,
    framework_id: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    principal: str | None = None,
    secret: str | None = None,
    ca_file: str | None = None,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    zk_scheme: str = "http",
) -> tuple[list[str], list[str]]:
    """Read a Mesos task's sandbox ``stdout`` and ``stderr`` through the master and the task's agent.

    :param master: ``"http://m1:5050"``, a comma list or list of such URLs, or ``"zk://h1:2181,h2:2181/mesos"``.
    :param task_id: the Mesos task id (the task instance's ``external_executor_id``).
    :param framework_id: only look in this framework (task ids are unique per framework only).
    :param max_bytes: show at most the last this many bytes of each file, from a line boundary.
    :param principal: HTTP basic auth principal for masters and agents that authenticate read-only endpoints.
    :param secret: its secret; sent only in the ``Authorization`` header, never shown.
    :param ca_file: PEM CA bundle for ``https`` masters and agents (ignored when ``client`` is given).
    :param timeout: seconds for each HTTP request, and for reaching ZooKeeper.
    :param client: the ``httpx.Client`` to use (tests); by default one is made and closed here.
    :param zk_scheme: scheme of the master found through ZooKeeper (MasterInfo does not say).
    :return: ``(messages, logs)`` as ``BaseExecutor.get_task_log`` returns them: what was read from where (or
        why nothing could be), and the log text (the stderr block, then stdout; see the module docstring).
        Agents are asked with the scheme of the master that answered.
    :raises ValueError: only for a programming error (``max_bytes`` < 1); trouble with Mesos is a message.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    messages: list[str] = []
    logs: list[str] = []
    own_client = client is None
    try:
        if not task_id:
            raise MesosUnavailable("No Mesos task id to look up (the task instance has no external_executor_id)")
        if own_client:
            client = httpx.Client(verify=ssl_context(True, ca_file), follow_redirects=False, trust_env=False)
        reader = MesosReader(client, principal=principal, secret=secret, timeout=timeout)
        logs = _read(reader, master, task_id, framework_id, max_bytes, zk_scheme, messages)
    except MesosUnavailable as exc:
        messages.append(str(exc))
        logs = []
    except Exception as exc:  # the log view must keep working; the traceback is in the api-server log
        log.exception("reading the sandbox of Mesos task %s failed", task_id)
        messages.append(f"Reading the sandbox of Mesos task {task_id} failed unexpectedly "
                        f"({type(exc).__name__}); see the api-server log")
        logs = []
    finally:
        if own_client and client is not None:
            client.close()
    return [redact_credentials(m, secret) for m in messages], logs


def _read(reader: MesosReader, master: str | Sequence[str], task_id: str, framework_id: str | None,
          max_bytes: int, zk_scheme: str, messages: list[str]) -> list[str]:
    masters = leader_candidates(master, zk_scheme=zk_scheme, timeout=reader.timeout)
    in_framework = f" in framework {framework_id}" if framework_id else ""

    params = {"task_id": task_id, **({"framework_id": framework_id} if framework_id else {})}
    try:
        answer = reader.master_get(masters, "/master/tasks", params)
    except MesosUnavailable as exc:
        raise MesosUnavailable(f"Cannot look up Mesos task {task_id}: {exc}") from None
    leader = answer.url
    if not isinstance(answer.document, Mapping):
        raise MesosUnavailable(f"The Mesos master at {leader} answered /master/tasks with JSON that is not an object")
    matches = find_tasks(answer.document, task_id, framework_id)
    if not matches:
        raise MesosUnavailable(
            f"Mesos task {task_id} is unknown to the master at {leader}{in_framework}: it was not launched yet, or "
            "the master forgot it (finished tasks are dropped beyond --max_completed_tasks_per_framework and on "
            "master failover)")
    task = matches[0]
    if len({m.framework_id for m in matches}) > 1:
        messages.append(f"Mesos task id {task_id} is used in {len({m.framework_id for m in matches})} frameworks; "
                        f"showing framework {task.framework_id} (pass framework_id to choose)")

    agents = reader.master_get([leader], "/master/slaves", {"slave_id": task.agent_id})
    agent = find_agent(agents.document, task.agent_id) if isinstance(agents.document, Mapping) else None
    if agent is None:
        raise MesosUnavailable(f"Agent {task.agent_id} of Mesos task {task_id} is not registered with the master at "
                           f"{agents.url} (removed or unreachable), so its sandbox cannot be read")
    try:
        agent_url = agent_base_url(agent, scheme=httpx.URL(agents.url).scheme)
    except ValueError as exc:
        raise MesosUnavailable(f"Cannot reach the sandbox of Mesos task {task_id}: {exc}") from None
    who = f"agent {task.agent_id}"

    try:
        status, agent_state, response = reader.get(agent_url, "/state", {}, who)
        if status != 200:
            raise MesosUnavailable(reader.refusal(status, response, who, agent_url, "/state"))
    except MesosUnavailable as exc:
        raise MesosUnavailable(f"Cannot read the sandbox of Mesos task {task_id}: {exc}") from None
    files_dir = find_task_files(agent_state, task) if isinstance(agent_state, Mapping) else None
    if files_dir is None:
        raise MesosUnavailable(
            f"Agent {task.agent_id} at {agent_url} has no sandbox for Mesos task {task_id} (framework "
            f"{task.framework_id}, {task.state or 'state unknown'}): it was garbage-collected, or the agent "
            "restarted")
    in_executor = "" if not files_dir.endswith(f"/tasks/{task_id}") else " in a shared (warm-worker) executor"
    messages.append(f"Reading the sandbox of Mesos task {task_id} ({task.state}, framework {task.framework_id}"
                    f"{in_executor}) on agent {task.agent_id} at {agent_url}, found through the master at {leader}")

    files: dict[str, SandboxFile | None] = {}
    try:
        for name in ("stdout", "stderr"):
            files[name] = reader.read_file(agent_url, who, f"{files_dir}/{name}", name, max_bytes)
    except MesosUnavailable as exc:
        raise MesosUnavailable(f"Cannot read the sandbox of Mesos task {task_id}: {exc}") from None
    if all(f is None for f in files.values()):
        raise MesosUnavailable(f"The sandbox {files_dir} of Mesos task {task_id} on agent {task.agent_id} has no stdout "
                           "or stderr (not written yet, or garbage-collected)")
    for name, found in files.items():
        messages.append(found.describe(max_bytes) if found is not None else f"{name}: not in the sandbox")
    stdout, stderr = files["stdout"], files["stderr"]
    return render_logs(stdout.data if stdout else None, stderr.data if stderr else None)
