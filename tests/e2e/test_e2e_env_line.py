"""The one line a client's shell needs: an official SDK in a fresh process,
configured by nothing but `scripts/ca.py env --client sdk`, is routed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from e2e_harness import load_ca_script
from fakeprovider import Reply

pytestmark = pytest.mark.e2e

SCRIPT = """
import openai
reply = openai.OpenAI(api_key="sk-anything").chat.completions.create(
    model="to-anthropic", messages=[{"role": "user", "content": "hi"}])
print(reply.choices[0].message.content)
"""


def test_sdk_env_line_is_all_a_python_sdk_needs(mitm, fake, tmp_path):
    lines = load_ca_script().env_lines(mitm.confdir, port=mitm.port, client="sdk")
    env = dict(line.removeprefix("export ").split("=", 1) for line in lines
               if line.startswith("export "))
    fake.script([Reply(text="routed by the env line")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60, env=env | {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "routed by the env line"
    assert fake.model_calls()[-1].format == "anthropic"
