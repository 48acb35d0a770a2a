"""Client-side rate limits: run *at* a provider's limit, never over it, people first.

One :class:`RateLimiter` per process paces every model call, whoever makes it (the panel,
the eval runner, the judge, the shadow run), attempt by attempt
(:func:`evals.models.provider_calls.ask_with_retries` asks it before each try):

- **Configured limits.** A member's ``rpm`` / ``tpm`` (in its ``litellm_params``, where a
  litellm proxy reads them too) and shared limits (:class:`SharedLimit`: several members
  on one key) are token buckets refilled continuously, holding at most half a second of
  requests (providers enforce per-minute limits at a finer grain, OpenAI's per second;
  the other half second absorbs the network's jitter) and ten seconds of tokens. A call takes one request and its estimated tokens (prompt characters / 4 plus
  ``max_tokens``) up front; :meth:`RateLimiter.settle` gives back what the provider's
  usage says was not used, or takes what was used beyond the estimate.
- **Learned limits (AIMD).** When a provider refuses (429, 529, ``RESOURCE_EXHAUSTED``),
  that member pauses for the provider's own hint (``retry-after``) and is paced from then
  on at 90% of the rate the provider actually accepted over the last ten seconds
  (multiplicative decrease); each second without a refusal adds 3% of that rate back
  (additive increase), so the pace settles just under the real limit.
- **People first.** Waiting calls are served by :class:`Priority` (interactive before
  background), then in arrival order, bucket by bucket: a benchmark waits behind a person
  only where they share a limit. A person's call waits for a provider's pause and for
  configured limits, never for a learned pace or slow start (it takes the pace's next
  slot from the background calls instead).
- **People in other processes.** :meth:`RateLimiter.reserve` sets aside part of a
  member's rate for calls this process cannot see (people served by the web process,
  measured through a shared record in the database: ``bot.runtime.shared_budget``).
  Background calls are then paced at most at the member's rate (configured ``rpm``,
  shared limits, or the pace learned from refusals) less the reservation, never below
  :data:`MIN_BACKGROUND_SHARE` of it; a member with no known rate is not held back (the
  refusals the other process's calls cause teach this one its pace). Reserving 0 gives
  the full rate back.

Why not a library: ``aiolimiter`` (a well-kept leaky bucket) has neither priorities, nor a
way to give back an estimate, nor a rate that can change at run time, nor an injectable
clock; litellm's Router budgets refuse a call over the limit instead of waiting for it.
What is left (a token bucket and a priority queue) is a few dozen lines here.

The *call context* (:func:`background`, :class:`LimitedClient`) travels in context
variables, so that the clients underneath need not know about any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from itertools import count
from typing import TYPE_CHECKING, Any

from evals.records import ChatMessage, ModelAnswer, PanelMember

if TYPE_CHECKING:  # for annotations only: numpy (evals.protocols) is not needed to pace calls
    from evals.protocols import ModelClient

#: Seconds of requests a configured request bucket holds (its burst).
REQUEST_BURST_S = 0.5
#: Seconds of tokens a configured token bucket holds.
TOKEN_BURST_S = 10.0
#: AIMD: the pace after a refusal, as a share of the rate the provider accepted.
DECREASE = 0.9
#: AIMD: the share of that pace added back per second without a refusal.
INCREASE_PER_S = 0.03
#: How far back the accepted rate is measured, and refusals within this long of a
#: decrease count as the same overload (no second decrease).
WINDOW_S = 10.0
REACTION_S = 1.0
#: The slowest learned pace: one request a minute.
MIN_RATE = 1 / 60
#: Answers the accepted rate needs before it is trusted over the rate requests were sent.
MIN_ANSWERS = 5
#: Slow start: a member's calls in flight before any refusal start at this many and grow
#: by one per answer (doubling each round trip), so a run's first burst finds the limit
#: with a few refusals rather than with the whole concurrency.
FIRST_WINDOW = 4
#: A refusal with no hint pauses the member this long; with one, at least MIN_PAUSE_S.
DEFAULT_PAUSE_S = 1.0
MIN_PAUSE_S = 0.05
#: The longest pause a provider's hint can impose (a daily quota is not waited out).
MAX_PAUSE_S = 3600.0
#: Tokens assumed for the answer when a member sets no ``max_tokens``.
DEFAULT_ANSWER_TOKENS = 512
#: The least share of a rate that background calls keep while people elsewhere use it
#: (a benchmark slows down for people, it does not stop and miss its deadline).
MIN_BACKGROUND_SHARE = 0.1


class Priority(IntEnum):
    """Lower goes first."""

    INTERACTIVE = 0  # a person is waiting: /compare, `quorum ask`
    BACKGROUND = 1  # eval runs, scheduled benchmarks, the judge, shadow models


@dataclass(frozen=True)
class SharedLimit:
    """A limit several members share (one provider key): requests and/or tokens a minute."""

    name: str
    members: frozenset[str]
    rpm: float | None = None
    tpm: float | None = None


@dataclass
class ThrottleLog:
    """What limits cost one piece of work (an eval sample): refusals and time waited."""

    throttled: int = 0
    waited_s: float = 0.0


@dataclass(frozen=True)
class CallMode:
    priority: Priority = Priority.INTERACTIVE
    #: When set, a refused call waits and asks again until then (an eval run's deadline).
    deadline: datetime | None = None
    log: ThrottleLog | None = None


@dataclass(frozen=True)
class CallLimits:
    limiter: RateLimiter
    estimated_tokens: int


#: Frozen, so a shared default is safe (ruff's B039 cannot tell).
_MODE: ContextVar[CallMode] = ContextVar("quorum_call_mode", default=CallMode())  # noqa: B039
_LIMITS: ContextVar[CallLimits | None] = ContextVar("quorum_call_limits", default=None)


def call_mode() -> CallMode:
    return _MODE.get()


def call_limits() -> CallLimits | None:
    return _LIMITS.get()


@contextmanager
def background(deadline: datetime | None = None) -> Iterator[ThrottleLog]:
    """Calls made inside are background work (after any person's), patient until
    ``deadline`` when one is given; yields the log of what limits cost them."""
    log = ThrottleLog()
    token = _MODE.set(CallMode(Priority.BACKGROUND, deadline, log))
    try:
        yield log
    finally:
        _MODE.reset(token)


def estimate_tokens(member: PanelMember, messages: Sequence[ChatMessage]) -> int:
    """A call's tokens before it is made: about four characters a token for the prompt,
    plus the most the answer may use."""
    prompt = sum(len(m.content) for m in messages) // 4 + 4 * len(messages)
    return prompt + (member.max_tokens or DEFAULT_ANSWER_TOKENS)


class LimitedClient:
    """A :class:`~evals.protocols.ModelClient` whose every attempt is paced by ``limiter``."""

    def __init__(self, inner: ModelClient, limiter: RateLimiter) -> None:
        self.inner = inner
        self.limiter = limiter

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        self.limiter.know(member)
        token = _LIMITS.set(CallLimits(self.limiter, estimate_tokens(member, messages)))
        try:
            return await self.inner.complete(unlimited_params(member), messages)
        finally:
            _LIMITS.reset(token)

    async def warm_up(self, members: Sequence[PanelMember] | None = None) -> None:
        warm_up = getattr(self.inner, "warm_up", None)
        if warm_up is not None:
            await (warm_up(members) if members is not None else warm_up())


_LIMIT_PARAMS = frozenset({"rpm", "tpm"})


def unlimited_params(member: PanelMember) -> PanelMember:
    """``member`` without ``rpm`` / ``tpm``: they are ours, not the provider's."""
    if not _LIMIT_PARAMS & set(member.params):
        return member
    params = {k: v for k, v in member.params.items() if k not in _LIMIT_PARAMS}
    return PanelMember(
        name=member.name,
        model=member.model,
        params=params,
        weight=member.weight,
        timeout_s=member.timeout_s,
        temperature=member.temperature,
        max_tokens=member.max_tokens,
        max_retries=member.max_retries,
    )


def member_limit(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


class TokenBucket:
    """Refills at ``rate`` a second up to ``capacity``. A take may leave it in debt (a
    call larger than the bucket still goes, once the bucket is full)."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self.level = self.capacity
        self._at = now

    def refill(self, now: float) -> None:
        if now > self._at:
            self.level = min(self.capacity, self.level + (now - self._at) * self.rate)
        self._at = now

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken (0: now)."""
        self.refill(now)
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= 1e-9 else need / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount

    def give(self, amount: float) -> None:
        """Give back (positive) or take more (negative) after the fact."""
        self.level = min(self.capacity, self.level + amount)


@dataclass
class Learned:
    """What refusals taught about one member: a pause, and a pace (None: none yet)."""

    first_seen: float
    paused_until: float = 0.0
    rate: float | None = None
    base_rate: float = 0.0
    decreased_at: float = -math.inf
    accepted: deque[float] = field(default_factory=deque)
    sent: deque[float] = field(default_factory=deque)
    bucket: TokenBucket | None = None
    in_flight: int = 0
    #: Slow start's cap on calls in flight; None once the provider has refused one.
    window: float | None = FIRST_WINDOW

    def pace(self, now: float) -> TokenBucket | None:
        if self.rate is None or self.bucket is None:
            return None
        self.bucket.refill(now)
        # additive increase: INCREASE_PER_S of the base pace per second since the decrease
        self.rate = self.base_rate * (1 + INCREASE_PER_S * max(0.0, now - self.decreased_at))
        self.bucket.rate = self.rate
        return self.bucket

    def recently_sent(self, now: float) -> int:
        return sum(1 for t in self.sent if t >= now - WINDOW_S)

    def measured(self, now: float) -> float:
        """Requests a second the provider accepted lately. Before it has answered a few
        (a run's first burst, refused before any answer is back), half the rate they
        were sent at: the provider took some of them, it did not take all."""
        window = min(WINDOW_S, max(1.0, now - self.first_seen))
        for times in (self.accepted, self.sent):
            while times and times[0] < now - WINDOW_S:
                times.popleft()
        accepted = sum(1 for t in self.accepted if t >= now - window)
        if accepted >= MIN_ANSWERS:
            return accepted / window
        sent = sum(1 for t in self.sent if t >= now - window)
        return max(accepted, sent / 2) / window

    def refused(self, now: float, retry_after: float | None, *, adapt: bool) -> None:
        pause = DEFAULT_PAUSE_S if retry_after is None else min(retry_after, MAX_PAUSE_S)
        self.paused_until = max(self.paused_until, now + max(pause, MIN_PAUSE_S))
        self.window = None  # the limit is found: the pace rules from here
        if not adapt or now - self.decreased_at < REACTION_S:
            return  # an echo of the overload already answered
        if self.rate is None and self.recently_sent(now) < MIN_ANSWERS:
            return  # too few calls of its own to blame: someone else used the limit
        current = self.pace(now)
        measured = self.measured(now)
        if current is None:
            rate = max(measured * DECREASE, MIN_RATE)
        else:
            rate = max(min(current.rate, measured) * DECREASE, current.rate / 2, MIN_RATE)
        self.rate = self.base_rate = rate
        self.decreased_at = now
        self.bucket = TokenBucket(rate, 1.0, now)
        self.bucket.level = 0.0


@dataclass
class MemberStats:
    """What limits cost one member in this process, in all."""

    requests: int = 0
    throttled: int = 0
    waited_s: float = 0.0


@dataclass
class _Waiter:
    priority: Priority
    seq: int
    member: str
    needs: list[tuple[tuple[str, str], float]]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    granted: bool = False


@dataclass(frozen=True)
class Permit:
    """A granted call: what it took, to settle once the provider answers."""

    member: str
    tokens: float
    token_buckets: tuple[tuple[str, str], ...]
    #: Whether a limit (configured, or learned from a refusal) applied: only then is the
    #: wait for it a wait on rate limits (not slow start's first round trips).
    limited: bool = True


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RateLimiter:
    """See the module docstring. ``share`` scales every configured limit (a process that
    is one of N eval workers gets 1/N); ``clock`` is monotonic seconds.

    One per process, shared by every event loop in it (the bot's, a scheduled job's in
    its own thread): its state is guarded by a lock, and a waiter is woken on its own
    loop."""

    def __init__(
        self,
        shared: Sequence[SharedLimit] = (),
        *,
        share: float = 1.0,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._shared = tuple(shared)
        self._share = share
        self._adaptive = adaptive
        self._clock = clock
        self._lock = threading.RLock()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._keys: dict[str, tuple[tuple[str, str], ...]] = {}
        self._learned: dict[str, Learned] = {}
        self._waiters: list[_Waiter] = []
        self._seq = count()
        self._timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}
        #: Requests a second set aside for people elsewhere, by member (reserve()).
        self._reserved: dict[str, float] = {}
        #: Background-only buckets pacing a rate less its reservation, by the rate's key.
        self._reserve_buckets: dict[tuple[str, str], TokenBucket] = {}
        self._observers: list[Callable[[str, Priority], None]] = []
        self.stats: dict[str, MemberStats] = {}

    # -- asking --------------------------------------------------------------------
    async def acquire(
        self,
        member: PanelMember,
        tokens: float,
        priority: Priority = Priority.INTERACTIVE,
        *,
        max_wait: float | None = None,
    ) -> Permit | None:
        """Wait for ``member``'s turn; None when it would not come within ``max_wait`` s."""
        loop = asyncio.get_running_loop()
        with self._lock:
            keys = self._keys_of(member)
            now = self._clock()
            learned = self._learned.setdefault(member.name, Learned(first_seen=now))
            learned.first_seen = min(learned.first_seen, now)
            needs = [(k, tokens if k[0].endswith("tpm") else 1.0) for k in keys]
            waiter = _Waiter(
                priority, next(self._seq), member.name, needs, loop.create_future(), loop
            )
            self._waiters.append(waiter)
            self.pump()
        if not waiter.future.done():
            try:
                await asyncio.wait_for(asyncio.shield(waiter.future), max_wait)
            except TimeoutError:
                self._drop(waiter)
                return None
            except asyncio.CancelledError:
                self._drop(waiter)
                raise
        with self._lock:
            self.stats.setdefault(member.name, MemberStats()).requests += 1
            limited = bool(keys) or learned.window is None or not self._adaptive
            observers = tuple(self._observers)
        for observe in observers:
            observe(member.name, priority)
        tpm = tuple(k for k in keys if k[0].endswith("tpm"))
        return Permit(member.name, tokens, tpm, limited)

    def settle(
        self,
        permit: Permit,
        *,
        used_tokens: int | None = None,
        refused: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """The provider answered: correct the token estimate with its usage (a refusal
        used none), and learn from a refusal."""
        with self._lock:
            now = self._clock()
            used = 0 if refused else used_tokens
            if used is not None:
                for key in permit.token_buckets:
                    self._buckets[key].give(permit.tokens - used)
            learned = self._learned[permit.member]
            learned.in_flight -= 1
            if refused:
                self.stats.setdefault(permit.member, MemberStats()).throttled += 1
                learned.refused(now, retry_after, adapt=self._adaptive)
            else:
                learned.accepted.append(now)
                if learned.window is not None:
                    learned.window += 1
            self.pump()

    def release(self, permit: Permit) -> None:
        """The call was abandoned (cancelled) before the provider answered."""
        with self._lock:
            self._learned[permit.member].in_flight -= 1
            self.pump()

    def waited(self, member: str, seconds: float) -> None:
        with self._lock:
            self.stats.setdefault(member, MemberStats()).waited_s += seconds

    def learned_rate(self, member: str) -> float | None:
        """The pace learned for ``member`` (requests a second), None while there is none."""
        with self._lock:
            learned = self._learned.get(member)
            if learned is None or learned.pace(self._clock()) is None:
                return None
            return learned.rate

    def observe(self, callback: Callable[[str, Priority], None]) -> None:
        """Call ``callback(member, priority)`` for every request granted (each try).
        It runs on the caller's event loop and must be cheap (count, never write)."""
        with self._lock:
            self._observers.append(callback)

    def unobserve(self, callback: Callable[[str, Priority], None]) -> None:
        with self._lock:
            if callback in self._observers:
                self._observers.remove(callback)

    def reserve(self, member: str, calls_per_minute: float) -> None:
        """Set aside ``calls_per_minute`` of ``member``'s rate (all processes together:
        this process's ``share`` of it) for calls made elsewhere; 0 gives it back."""
        with self._lock:
            per_s = max(calls_per_minute, 0.0) * self._share / 60
            if per_s > 0:
                self._reserved[member] = per_s
            else:
                self._reserved.pop(member, None)
            self.pump()

    def reserved(self, member: str) -> float:
        """Calls a minute set aside for ``member`` (this process's share), 0 if none."""
        with self._lock:
            return self._reserved.get(member, 0.0) * 60

    def background_rate(self, member: str) -> float | None:
        """Requests a minute background calls of ``member`` may use now, None if not
        held back by a reservation."""
        with self._lock:
            caps = self._caps(member, self._clock())
            return None if not caps else min(b.rate for _, b in caps) * 60

    def _caps(self, member: str, now: float) -> list[tuple[tuple[str, str], TokenBucket]]:
        """The buckets pacing ``member``'s background calls below the rates people
        elsewhere have a reservation on (none without a reservation)."""
        if not self._reserved:
            return []
        limits: list[tuple[tuple[str, str], float, float]] = []
        for key in self._keys.get(member, ()):
            if not key[0].endswith("rpm"):
                continue
            if key[0].startswith("member"):
                reserved = self._reserved.get(member, 0.0)
            else:
                shared = next(s for s in self._shared if s.name == key[1])
                reserved = sum(self._reserved.get(m, 0.0) for m in shared.members)
            limits.append((key, self._buckets[key].rate, reserved))
        learned = self._learned.get(member)
        pace = learned.pace(now) if learned is not None else None
        if pace is not None:
            limits.append((("pace", member), pace.rate, self._reserved.get(member, 0.0)))
        caps = []
        for (scope, name), rate, reserved in limits:
            if reserved <= 0:
                continue
            key = (f"reserve-{scope}", name)
            cap = max(rate - reserved, rate * MIN_BACKGROUND_SHARE)
            bucket = self._reserve_buckets.get(key)
            if bucket is None:
                bucket = self._reserve_buckets[key] = TokenBucket(cap, cap * REQUEST_BURST_S, now)
            bucket.refill(now)
            bucket.rate = cap
            bucket.capacity = max(cap * REQUEST_BURST_S, 1.0)
            bucket.level = min(bucket.level, bucket.capacity)
            caps.append((key, bucket))
        return caps

    # -- scheduling ----------------------------------------------------------------
    def pump(self) -> None:
        """Grant every waiter whose buckets allow it, in priority then arrival order; a
        waiter that must wait holds its buckets against everyone after it."""
        with self._lock:
            now = self._clock()
            here = _running_loop()
            held: set[tuple[str, str]] = set()
            wake = math.inf
            for waiter in sorted(self._waiters, key=lambda w: (w.priority, w.seq)):
                if waiter.granted or waiter.future.done() or waiter.loop.is_closed():
                    continue
                learned = self._learned[waiter.member]
                waits = [
                    (key, self._buckets[key].wait(amount, now)) for key, amount in waiter.needs
                ]
                waits.append((("gate", waiter.member), learned.paused_until - now))
                pace = learned.pace(now)
                # A person's call waits for the provider's own pause and for configured
                # limits, never for a learned pace or slow start: those tame a stream of
                # background calls, which the person's call then delays by one slot.
                person = waiter.priority is Priority.INTERACTIVE
                if pace is not None and not person:
                    waits.append((("pace", waiter.member), pace.wait(1.0, now)))
                caps = [] if person else self._caps(waiter.member, now)
                waits += [(key, bucket.wait(1.0, now)) for key, bucket in caps]
                window = learned.window if self._adaptive and not person else None
                if window is not None and learned.in_flight >= window:
                    continue  # slow start: wait for an answer (settle pumps again)
                blocked = [(k, w) for k, w in waits if w > 1e-9 or k in held]
                if blocked:
                    held.update(k for k, _ in blocked)
                    longest = max(w for _, w in blocked)
                    if longest > 1e-9:
                        wake = min(wake, now + longest)
                    continue
                for key, amount in waiter.needs:
                    self._buckets[key].take(amount)
                if pace is not None:
                    pace.take(1.0)
                for _, bucket in caps:
                    bucket.take(1.0)
                learned.sent.append(now)
                learned.in_flight += 1
                waiter.granted = True
                self._wake(waiter, here)
            self._waiters = [
                w for w in self._waiters if not (w.granted or w.future.done() or w.loop.is_closed())
            ]
            if wake < math.inf:
                for loop in {w.loop for w in self._waiters}:
                    self._arm(loop, wake, here)

    def _wake(self, waiter: _Waiter, here: asyncio.AbstractEventLoop | None) -> None:
        if waiter.loop is here:
            _resolve(waiter.future)
            return
        with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future)

    def _arm(
        self, loop: asyncio.AbstractEventLoop, wake: float, here: asyncio.AbstractEventLoop | None
    ) -> None:
        """Pump again at ``wake`` on ``loop`` (from its own thread)."""
        if loop is not here:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._arm, loop, wake, loop)
            return
        with self._lock:
            for ended in [known for known in self._timers if known.is_closed()]:
                del self._timers[ended]
            timer = self._timers.pop(loop, None)
            if timer is not None:
                timer.cancel()
            delay = max(wake - self._clock(), 0.001)
            self._timers[loop] = loop.call_later(delay, self.pump)

    def _drop(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if waiter.granted:  # granted as it gave up: give it back
                for key, amount in waiter.needs:
                    self._buckets[key].give(amount)
                self._learned[waiter.member].in_flight -= 1
            waiter.granted = True  # never granted (again)
            waiter.future.cancel()
            self.pump()

    def know(self, member: PanelMember) -> None:
        """Read ``member``'s own ``rpm`` / ``tpm`` (before a client strips them)."""
        with self._lock:
            self._keys_of(member)

    def _keys_of(self, member: PanelMember) -> tuple[tuple[str, str], ...]:
        keys = self._keys.get(member.name)
        if keys is not None:
            return keys
        now = self._clock()
        found: list[tuple[str, str]] = []
        limits: list[tuple[tuple[str, str], float | None, float | None]] = [
            (
                ("member", member.name),
                member_limit(member.params, "rpm"),
                member_limit(member.params, "tpm"),
            )
        ]
        limits += [
            (("shared", s.name), s.rpm, s.tpm) for s in self._shared if member.name in s.members
        ]
        for (scope, name), rpm, tpm in limits:
            for unit, per_minute, burst_s in (
                ("rpm", rpm, REQUEST_BURST_S),
                ("tpm", tpm, TOKEN_BURST_S),
            ):
                if per_minute is None:
                    continue
                key = (f"{scope}-{unit}", name)
                if key not in self._buckets:
                    rate = per_minute * self._share / 60
                    self._buckets[key] = TokenBucket(rate, rate * burst_s, now)
                found.append(key)
        self._keys[member.name] = tuple(found)
        return self._keys[member.name]
