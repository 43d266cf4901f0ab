"""The staged-release methods of both clients: release policy, rollouts and the fleet view.
`ConfigClient` and `AsyncConfigClient` take them from these two classes (the same flows,
`_rollouts`, driven blocking or awaited)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config_client._protocol import Flow
from config_client._rollouts import RolloutFlows
from config_client.models import Configuration, Fleet, Rollout

STEPS = (10, 50, 100)


class StagedReleases:
    """Blocking: for `ConfigClient`."""

    _rollouts: RolloutFlows

    def _run(self, flow: Flow[Any]) -> Any:  # the client's own
        raise NotImplementedError

    def set_release(
        self,
        application: str,
        name: str,
        release: str,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Configuration:
        """Sets a configuration's release policy: "staged" (a change makes a new version that
        clients get only through a rollout; the live version stays) or "immediate" (every
        change is live at once; switching back makes the latest version live)."""
        return self._run(self._rollouts.set_release(application, name, release, if_match, expected_version))

    def start_rollout(
        self,
        application: str,
        name: str,
        version: int,
        *,
        steps: Sequence[int] = STEPS,
        step_seconds: int = 60,
        max_failures: int = 0,
    ) -> Rollout:
        """Starts rolling `version` of a staged configuration out: its first step at once, the
        next every `step_seconds` (shares of clients, strictly increasing, ending at 100).
        More than `max_failures` clients reporting that they could not apply it roll it back.
        Conflict when the configuration is not staged or a rollout is already under way."""
        flow = self._rollouts.start(application, name, version, steps, step_seconds, max_failures)
        return self._run(flow)

    def rollouts(self, application: str, name: str, *, limit: int | None = None) -> list[Rollout]:
        """A configuration's rollouts, newest first (all, or the first `limit`)."""
        return self._run(self._rollouts.rollouts(application, name, limit))

    def rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """One rollout; without an id, the latest (NotFound when there has been none)."""
        return self._run(self._rollouts.rollout(application, name, rollout_id))

    def pause_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Holds a running rollout at its share (the latest rollout unless an id is given);
        Conflict when it is not running."""
        return self._run(self._rollouts.act(application, name, "pause", rollout_id))

    def resume_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Resumes a paused rollout: its next step comes `step_seconds` after this."""
        return self._run(self._rollouts.act(application, name, "resume", rollout_id))

    def rollback_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Rolls back a rollout under way: every client back to its `from_version` at once."""
        return self._run(self._rollouts.act(application, name, "rollback", rollout_id))

    def promote_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Takes a rollout under way straight to 100%: it completes, its version is live."""
        return self._run(self._rollouts.act(application, name, "promote", rollout_id))

    def fleet(self, application: str, name: str) -> Fleet:
        """The clients seen reading a configuration lately (within the service's CLIENT_TTL):
        each with the version it holds, when and through which instance it was seen, and its
        last report; and how many hold each version (`versions`)."""
        return self._run(self._rollouts.fleet(application, name))

    def application_fleet(self, application: str, *, limit: int = 100) -> dict[str, Fleet]:
        """The fleet of each configuration of an application, by name (the first `limit`
        clients of each, and all counts)."""
        return self._run(self._rollouts.application_fleet(application, limit))


class AsyncStagedReleases:
    """Awaited: for `AsyncConfigClient` (see `StagedReleases` for each method)."""

    _rollouts: RolloutFlows

    async def _run(self, flow: Flow[Any]) -> Any:  # the client's own
        raise NotImplementedError

    async def set_release(
        self,
        application: str,
        name: str,
        release: str,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Configuration:
        """Sets a configuration's release policy: "staged" or "immediate"."""
        return await self._run(self._rollouts.set_release(application, name, release, if_match, expected_version))

    async def start_rollout(
        self,
        application: str,
        name: str,
        version: int,
        *,
        steps: Sequence[int] = STEPS,
        step_seconds: int = 60,
        max_failures: int = 0,
    ) -> Rollout:
        """Starts rolling `version` of a staged configuration out, its first step at once."""
        flow = self._rollouts.start(application, name, version, steps, step_seconds, max_failures)
        return await self._run(flow)

    async def rollouts(self, application: str, name: str, *, limit: int | None = None) -> list[Rollout]:
        """A configuration's rollouts, newest first."""
        return await self._run(self._rollouts.rollouts(application, name, limit))

    async def rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """One rollout; without an id, the latest."""
        return await self._run(self._rollouts.rollout(application, name, rollout_id))

    async def pause_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Holds a running rollout at its share."""
        return await self._run(self._rollouts.act(application, name, "pause", rollout_id))

    async def resume_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Resumes a paused rollout."""
        return await self._run(self._rollouts.act(application, name, "resume", rollout_id))

    async def rollback_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Rolls back a rollout under way."""
        return await self._run(self._rollouts.act(application, name, "rollback", rollout_id))

    async def promote_rollout(self, application: str, name: str, rollout_id: str | None = None) -> Rollout:
        """Takes a rollout under way straight to 100%."""
        return await self._run(self._rollouts.act(application, name, "promote", rollout_id))

    async def fleet(self, application: str, name: str) -> Fleet:
        """The clients seen reading a configuration lately, and how many hold each version."""
        return await self._run(self._rollouts.fleet(application, name))

    async def application_fleet(self, application: str, *, limit: int = 100) -> dict[str, Fleet]:
        """The fleet of each configuration of an application, by name."""
        return await self._run(self._rollouts.application_fleet(application, limit))
