"""Login, agent list, conversation list, opening a 500-message conversation and saving a message,
at 50 concurrent users on the seeded database; p50 and p95 of each.

    .venv/bin/python bench/bench_app_ops.py [--users 50] [--rounds 3]

Each simulated user is a websocket client that sends exactly the frames a browser tab sends
(bench/reflex_client.py). A round connects 50 fresh tabs to /login, then runs each operation as a
burst (all 50 users send it at the same moment, the next burst starts when all have their answer):

- login: LoginState.log_in (bcrypt, 12 rounds) until the redirect to /chat arrives;
- conversation list: the /chat page load (ChatState.load_page) until SidebarState.conversations
  arrives: its first page, 30 of the user's 100 conversations (SidebarState.PAGE_SIZE);
- agent list (first load): the same page load until AgentState.agents fills the picker (cache cold
  in round 1);
- agent list (reload): AgentState.load_agents(refresh=True): every user's request goes to FabriX;
  it ends with the delta that sets agents_loading back to false (the agents themselves are sent
  again only if they changed);
- open 500-message conversation: navigation to /chat/<id> until ConversationState.messages
  arrives: the newest page, 50 of the 500 messages (ConversationState.PAGE_SIZE, "Show earlier"
  loads more);
- message save: ConversationState.send_message in that conversation until the update that shows the
  saved question (ConversationState.added, LiveAnswerState.streaming on) arrives; the answer then
  streams (fabrixLive pushes) and the user waits for its end (LiveAnswerState.streaming off).

A single-user pass first gives the uncontended times. Times are measured from the moment the frame
is written to the moment the matching update is read by the client, so they include the websocket,
Reflex's event processing and state serialisation, the app's handlers and the database, and the
client's JSON decoding; not the browser's rendering. Results: bench/results/app_ops.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    PASSWORD,
    TreeSampler,
    driver_cpu_seconds,
    load_average,
    machine,
    running_app,
    summary,
    username,
    write_results,
)
from bench.reflex_client import (  # noqa: E402
    AGENTS,
    CHAT,
    LIVE,
    LOAD_AGENTS,
    LOGIN,
    MESSAGE_PAGE,
    PAGE,
    SEND_MESSAGE,
    SET_SEARCH_QUERY,
    SIDEBAR,
    SIDEBAR_PAGE,
    ReflexClient,
    ask_payload,
    compiled_hydrate_extras,
    form,
)

BIG_CONVERSATION_STRIDE = 100  # seed.py: user n's 500-message conversation has id n*100+1
TARGETS = {
    "login": 1.0,
    "agent_list_first_load": 2.0,
    "agent_list_reload": 2.0,
    "conversation_list": 1.0,
    "message_save": 0.5,
}
OPS = (
    "login",
    "conversation_list",
    "agent_list_first_load",
    "agent_list_reload",
    "open_500_message_conversation",
    "message_save",
    "answer_complete",
    "open_small_conversation",
    "message_save_small_conversation",
    "answer_complete_small_conversation",
)
OBSERVER = 99  # a signed-in user who keeps reloading their conversation list during the log-in burst
SEEDED_CONVERSATIONS = 100  # seed.py: conversations per user


class Round:
    """One round of bursts for a set of users; collects seconds per operation and errors."""

    def __init__(self, url: str, extras: dict[str, Any], user_numbers: list[int], timeout: float) -> None:
        self.url = url
        self.extras = extras
        self.users = user_numbers
        self.timeout = timeout
        self.times: dict[str, list[float]] = {op: [] for op in OPS}
        self.errors: dict[str, list[str]] = {op: [] for op in OPS}
        self.clients: list[ReflexClient] = []
        self.login_done = asyncio.Event()

    async def burst(self, op: str, action) -> None:
        """Run `action(client, n)` for every user at once; it returns seconds or raises."""

        async def one(client: ReflexClient, n: int) -> None:
            try:
                self.times[op].append(await action(client, n))
            except Exception as exc:  # a failed or timed-out operation is counted, not fatal
                self.errors[op].append(f"{username(n)}: {type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(c, n) for c, n in zip(self.clients, self.users, strict=True)))

    async def run(self) -> None:
        self.clients = [ReflexClient(self.url, hydrate_extras=self.extras, follow_redirects=False) for _ in self.users]
        await asyncio.gather(*(c.connect("/login", wait=self.timeout) for c in self.clients))
        try:
            await self._bursts()
        finally:
            await asyncio.gather(*(c.close() for c in self.clients))

    async def _bursts(self) -> None:
        timeout = self.timeout

        async def login(c: ReflexClient, n: int) -> float:
            done = c.expect(lambda f: f.page_load() is not None or bool(f.var(LOGIN, "login_error")), timeout)
            t0 = time.perf_counter()
            await c.send(f"{LOGIN}.log_in", {"form": form(username=username(n), password=PASSWORD)})
            frame = await done
            ticket = frame.page_load()
            if not ticket or not ticket.startswith("/auth/session?ticket="):
                raise RuntimeError(f"log-in refused: {frame.var(LOGIN, 'login_error')}")
            # Until the browser holds the HttpOnly cookie: the ticket swapped at /auth/session.
            async with httpx.AsyncClient(base_url=c.base_url, timeout=timeout) as http:
                response = await http.get(ticket, follow_redirects=False)
            if not response.cookies.get("fabrix_session"):
                raise RuntimeError(f"sign-in ticket refused: {response.headers.get('location')}")
            elapsed = time.perf_counter() - t0
            c.cookie = response.cookies["fabrix_session"]
            await c.reopen(timeout)
            return elapsed

        await self.burst("login", login)
        self.login_done.set()
        agents_first: dict[int, asyncio.Future] = {}
        starts: dict[int, float] = {}

        async def conversation_list(c: ReflexClient, n: int) -> float:
            listed = c.expect(lambda f: f.has(SIDEBAR, "conversations"), timeout)
            agents_first[n] = c.expect(lambda f: bool(f.var(AGENTS, "agents")), timeout)
            starts[n] = t0 = time.perf_counter()
            await c.navigate("/chat")
            frame = await listed
            count = len(frame.var(SIDEBAR, "conversations"))
            expected = min(SIDEBAR_PAGE, SEEDED_CONVERSATIONS)
            if count != expected:
                raise RuntimeError(f"{count} conversations listed, expected the first page of {expected}")
            return frame.t - t0

        await self.burst("conversation_list", conversation_list)

        async def agent_list_first_load(c: ReflexClient, n: int) -> float:
            frame = await agents_first[n]
            if len(frame.var(AGENTS, "agents")) != 4:
                raise RuntimeError(f"agent list: {frame.var(AGENTS, 'agents')}")
            return frame.t - starts[n]

        await self.burst("agent_list_first_load", agent_list_first_load)

        async def agent_list_reload(c: ReflexClient, n: int) -> float:
            # The handler sets agents_loading and clears it at the end: that delta is always sent;
            # the agents come with it only when FabriX's list changed.
            done = c.expect(lambda f: f.var(AGENTS, "agents_loading") is False, timeout)
            t0 = time.perf_counter()
            await c.send(LOAD_AGENTS, {"refresh": True})
            frame = await done
            if frame.var(CHAT, "alert_text"):
                raise RuntimeError(f"agent list: {frame.var(CHAT, 'alert_text')}")
            if frame.has(AGENTS, "agents") and len(frame.var(AGENTS, "agents")) != 4:
                raise RuntimeError(f"agent list: {frame.var(AGENTS, 'agents')}")
            return frame.t - t0

        await self.burst("agent_list_reload", agent_list_reload)

        await self.burst(
            "open_500_message_conversation",
            lambda c, n: self.open(c, n * BIG_CONVERSATION_STRIDE + 1, min(500, MESSAGE_PAGE), earlier=True),
        )
        await self.ask_all("message_save", "answer_complete")
        await self.burst(
            "open_small_conversation", lambda c, n: self.open(c, n * BIG_CONVERSATION_STRIDE + 2, 5, earlier=False)
        )
        await self.ask_all("message_save_small_conversation", "answer_complete_small_conversation")

    async def open(self, c: ReflexClient, conversation_id: int, at_least: int, earlier: bool) -> float:
        """Navigate to a conversation until its messages (the newest page) arrive."""
        done = c.expect(lambda f: f.has(PAGE, "messages"), self.timeout)
        t0 = time.perf_counter()
        await c.navigate(f"/chat/{conversation_id}")
        frame = await done
        count = len(frame.var(PAGE, "messages"))
        if count < at_least:
            raise RuntimeError(f"{count} messages shown, expected at least {at_least}")
        if earlier and frame.var(PAGE, "has_earlier") is False:
            raise RuntimeError("the conversation's first page does not offer earlier messages")
        return frame.t - t0

    async def ask_all(self, save_op: str, complete_op: str) -> None:
        """Every user asks in the open conversation: time to the saved question, then to the answer's end."""
        ends: dict[int, asyncio.Future] = {}
        sent: dict[int, float] = {}

        async def message_save(c: ReflexClient, n: int) -> float:
            saved = c.expect(
                lambda f: f.var(LIVE, "streaming") is True or bool(f.var(CHAT, "alert_text")), self.timeout
            )
            ends[n] = c.expect(lambda f: f.answer_ended(), self.timeout)
            question = f"Benchmark question from {username(n)} at {time.time():.3f}: how is the weather?"
            sent[n] = t0 = time.perf_counter()
            await c.send(SEND_MESSAGE, ask_payload(question))
            frame = await saved
            if frame.var(LIVE, "streaming") is not True:
                raise RuntimeError(f"not saved: {frame.var(CHAT, 'alert_text')}")
            if not frame.shows_question(question):
                raise RuntimeError("the saved question is not in ConversationState.added")
            return frame.t - t0

        await self.burst(save_op, message_save)

        async def answer_complete(c: ReflexClient, n: int) -> float:
            frame = await ends[n]
            if frame.var(CHAT, "alert_text"):
                raise RuntimeError(frame.var(CHAT, "alert_text"))
            ended = frame.ended_answer() or {}
            answer = c.live.get(int(ended.get("id") or c.live_id or 0))
            if not ended.get("live") or not answer.done or not answer.text:
                raise RuntimeError(
                    f"answer not shown: added={ended}, buffer done={answer.done}, {len(answer.text)} chars"
                )
            return frame.t - sent[n]

        await self.burst(complete_op, answer_complete)


async def observe_during(
    url: str, extras: dict[str, Any], token: str, start: asyncio.Event, until: asyncio.Event, wait: float
) -> tuple[list[float], list[float]]:
    """A signed-in user reloads their conversation list (the search box, with nothing to search for):
    5 times while the app is idle, then again and again from `start` until `until` is set; returns
    both lists of seconds.

    Each reload re-reads the list's first page from the database (SidebarState._refresh). Reflex
    sends nothing for an event that changes no var and the sidebar is re-sent only when its rows
    change, so the query alternates between "" and " " (both list every conversation): the delta
    with the new search_query, sent once the list has been read, ends each reload.
    """
    client = ReflexClient(url, hydrate_extras=extras, cookie=token)
    await client.connect("/chat", wait=wait)
    flip = [" "]

    async def once() -> float:
        query = flip[0]
        flip[0] = "" if query else " "
        done = client.expect(lambda f: f.var(SIDEBAR, "search_query") == query, wait)
        t0 = time.perf_counter()
        await client.send(SET_SEARCH_QUERY, {"query": query})
        return (await done).t - t0

    idle, busy = [], []
    try:
        for _ in range(5):
            idle.append(await once())
        start.set()
        while not until.is_set():
            busy.append(await once())
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    return idle, busy


async def measure(url: str, web_dir: Path, users: int, rounds: int, wait: float, observer_token: str) -> dict[str, Any]:
    extras = compiled_hydrate_extras(web_dir)
    single = Round(url, extras, [users], wait)  # a user not in the concurrent rounds
    for _ in range(3):
        await single.run()
    concurrent = Round(url, extras, list(range(users)), wait)
    idle: list[float] = []
    during_login: list[float] = []
    for r in range(rounds):
        started = time.monotonic()
        if r == 0:  # round 1: how the log-in burst feels to a user who is already signed in
            observer_ready = asyncio.Event()
            observer = asyncio.create_task(
                observe_during(url, extras, observer_token, observer_ready, concurrent.login_done, wait)
            )
            await observer_ready.wait()
            await concurrent.run()
            idle, during_login = await observer
        else:
            await concurrent.run()
        print(f"round {r + 1}/{rounds}: {time.monotonic() - started:.1f} s", flush=True)
    return {
        "single_user": {op: summary(single.times[op]) for op in OPS},
        "concurrent": {op: summary(concurrent.times[op]) for op in OPS},
        "another_users_conversation_reload": {"idle": summary(idle), "during_login_burst": summary(during_login)},
        "errors": {op: concurrent.errors[op] + single.errors[op] for op in OPS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    info = machine()
    with running_app("app_ops", seeded=True, sessions=[OBSERVER]) as run, TreeSampler(run.app.process.pid) as sampler:
        cpu0 = driver_cpu_seconds()
        results = asyncio.run(
            measure(run.app.url, run.web_dir, args.users, args.rounds, args.timeout, run.tokens[OBSERVER])
        )
        driver_cpu = driver_cpu_seconds() - cpu0
    verdicts = {
        op: {
            "target_seconds": limit,
            "p95_seconds": results["concurrent"][op]["p95"],
            "met": results["concurrent"][op]["p95"] < limit and not results["errors"][op],
        }
        for op, limit in TARGETS.items()
    }
    write_results(
        "app_ops",
        {
            "benchmark": "app_ops",
            "machine": info,
            "load_avg_at_end": load_average(),
            "users": args.users,
            "rounds": args.rounds,
            "seconds": results,
            "targets": verdicts,
            "backend": sampler.report(),
            "driver_cpu_seconds": round(driver_cpu, 1),
        },
    )


if __name__ == "__main__":
    main()
