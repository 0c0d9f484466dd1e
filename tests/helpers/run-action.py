"""Run a composite action's steps as GitHub's runner does, for a test.

usage: run-action.py ACTION.yml WORKDIR [NAME=VALUE ...]  (the inputs)

Each step runs in bash (-eo pipefail) with its env, GITHUB_ACTIONS=true, a
GITHUB_OUTPUT file of its own, and the GITHUB_ENV and GITHUB_PATH files
whose lines later steps receive, as the runner reads them (NAME=value, or
NAME<<DELIM ... DELIM). Expressions: github.action_path, inputs.NAME,
steps.ID.outputs.NAME, and NAME == 'text' in an if:. Prints one JSON
object: the action's outputs, the environment and the PATH entries added.
"""
import json
import os
import re
import subprocess
import sys

import yaml


def read_vars(path):
    """NAME=value and NAME<<DELIM lines of a GITHUB_ENV or GITHUB_OUTPUT file."""
    out = {}
    if not os.path.exists(path):
        return out
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        m = re.fullmatch(r"([^=<]+)<<(.+)", line)
        if m:
            value = []
            while lines[i] != m.group(2):
                value.append(lines[i])
                i += 1
            i += 1
            out[m.group(1)] = "\n".join(value)
        else:
            name, _, value = line.partition("=")
            out[name] = value
    return out


def main():
    action_file, work = sys.argv[1], sys.argv[2]
    action = yaml.safe_load(open(action_file))
    inputs = {k: str(v.get("default", "")) for k, v in action.get("inputs", {}).items()}
    for arg in sys.argv[3:]:
        k, _, v = arg.partition("=")
        inputs[k] = v
    ctx = {"github.action_path": os.path.dirname(os.path.abspath(action_file))}
    ctx.update({"inputs." + k: v for k, v in inputs.items()})

    def value(expr):
        expr = expr.strip()
        if expr not in ctx and not expr.startswith("steps."):
            raise SystemExit("run-action: unknown expression " + expr)
        return ctx.get(expr, "")

    def expand(text):
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: value(m.group(1)), str(text))

    def condition(expr):
        m = re.fullmatch(r"\s*([\w.-]+)\s*==\s*'([^']*)'\s*", expr)
        if not m:
            raise SystemExit("run-action: unknown condition " + expr)
        return value(m.group(1)) == m.group(2)

    env_added, path_added = {}, []
    temp = os.path.join(work, "runner-temp")
    os.makedirs(temp, exist_ok=True)
    for n, step in enumerate(action["runs"]["steps"]):
        if "if" in step and not condition(step["if"]):
            continue
        files = {k: os.path.join(work, "%s-%d" % (k.lower(), n))
                 for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        env = dict(os.environ)
        env.update(env_added)
        env["PATH"] = ":".join(path_added[::-1] + [os.environ["PATH"]])
        env.update({k: expand(v) for k, v in step.get("env", {}).items()})
        env.update(files, GITHUB_ACTIONS="true", RUNNER_TEMP=temp)
        script = os.path.join(work, "step-%d.sh" % n)
        open(script, "w").write(step["run"])
        assert step.get("shell") == "bash", "only bash steps here"
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
                           env=env, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise SystemExit("run-action: step %d (%s) exited %d" % (n, step.get("id", ""), r.returncode))
        for k, v in read_vars(files["GITHUB_OUTPUT"]).items():
            ctx["steps.%s.outputs.%s" % (step.get("id", n), k)] = v
        env_added.update(read_vars(files["GITHUB_ENV"]))
        if os.path.exists(files["GITHUB_PATH"]):
            path_added += [l for l in open(files["GITHUB_PATH"]).read().split("\n") if l]
    outputs = {k: expand(v["value"]) for k, v in action.get("outputs", {}).items()}
    print(json.dumps({"outputs": outputs, "env": env_added, "path": path_added}))


main()
