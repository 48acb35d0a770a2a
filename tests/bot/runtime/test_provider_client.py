"""Which client asks which member, and that litellm is imported only when one needs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[3]


def test_litellm_is_imported_only_for_a_member_that_needs_it(
    fake_openai: FakeOpenAIServer,
) -> None:
    """A fresh process, as the bot and `quorum eval run` start: members on an
    OpenAI-compatible server are asked straight over HTTP, and warming up for them loads
    nothing; a member with a litellm-only parameter is asked through litellm."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from bot.runtime.adapters import ProviderClient
        from evals.records import ChatMessage, PanelMember

        base = {fake_openai.base_url!r}
        direct = PanelMember(name="direct", model="openai/direct",
                             params={{"api_base": base, "api_key": "sk-test"}})
        # api_version is litellm's (Azure-style) parameter: only litellm speaks it.
        via_litellm = PanelMember(name="via-litellm", model="openai/via-litellm",
                                  params={{"api_base": base, "api_key": "sk-test",
                                          "api_version": "2024-06-01"}})
        question = [ChatMessage("user", "hi")]

        async def main():
            client = ProviderClient()
            await client.warm_up([direct])
            answer = await client.complete(direct, question)
            print(answer.ok, answer.text, "litellm" in sys.modules)
            await client.warm_up([direct, via_litellm])
            print("litellm" in sys.modules)
            answer = await client.complete(via_litellm, question)
            print(answer.ok, answer.text)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin"},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True Answer from direct. False",
        "True",
        "True Answer from via-litellm.",
    ]
    assert [r.model for r in fake_openai.requests] == ["direct", "via-litellm"]
