"""`raqib demo`, the README's main command, end to end on the real node and the mirror."""
import json
import os
import re
import subprocess
import sys

from crawler.ops.esnode import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _demo(env, *args):
    # A process per run, as a user runs it (Scrapy's reactor cannot run twice in one process).
    proc = subprocess.run([sys.executable, "-m", "crawler.cli.main", "demo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_demo_crawls_the_mirror_beside_the_seeds_and_is_incremental_on_a_second_run(es_url, es, alias, tmp_path):
    env = dict(os.environ, RAQIB_STATE_DIR=str(tmp_path / "state"), RAQIB_ES_ALIAS=alias)
    env.pop("RAQIB_ES_URL", None)
    port = free_port(18000, 18999)

    out = _demo(env, "--es", es_url, "--mirror-port", str(port))
    assert "[3/5] seeds: 5 (5 new" in out
    for outlet in ("alittihad", "almarjie", "noonpost", "strategic_observatory", "almayadeen"):
        assert re.search(rf"^{outlet}: ok$", out, re.M), outlet
    total = int(re.search(r"The index now holds (\d+) articles", out).group(1))
    assert total >= 5 + 5 * 15
    alerts = re.search(r"\[5/5\] alerts: (\d+) new matches, (\d+) alerts delivered, (\d+) messages appended to (\S+)\n", out)
    assert alerts and int(alerts.group(1)) > 0
    sink = tmp_path / "state" / "alerts.jsonl"
    assert alerts.group(4) == str(sink)
    # the numbers printed are the ledger's and the file's (before: "24 message(s) sent" beside 29 in the file)
    assert int(alerts.group(3)) == len(sink.read_text(encoding="utf-8").splitlines())
    assert int(alerts.group(2)) == sum(len(json.loads(line)["articles"]) for line in sink.read_text(encoding="utf-8").splitlines())
    # the mirror's deliberately disallowed links are robots.txt refusals, not errors
    assert re.search(r"^total: .*, 0 errors, 5 disallowed by robots\.txt, ", out, re.M), out[-1500:]
    assert "errors       robots" not in out
    # the hints are runnable as printed in a new shell: `raqib` by its full path when only an
    # activated virtualenv would find it, and the demo's own state is named for `status`
    hint = re.search(r"^  (\S+) --es (\S+) search داعش --topic us_presence$", out, re.M)
    assert hint and hint.group(2) == es_url
    command = hint.group(1)
    assert command == "raqib" or (os.path.isabs(command) and os.access(command, os.X_OK))
    status = re.search(rf"^  {re.escape(command)} --config (\S+) status ", out, re.M)
    assert status and os.path.isdir(status.group(1))
    new_shell = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV",)}
    new_shell["PATH"] = "/usr/bin:/bin"
    searched = subprocess.run([*([command] if command != "raqib" else [sys.executable, "-m", "crawler.cli.main"]),
                               "--es", es_url, "search", "داعش", "--topic", "us_presence"],
                              env=new_shell, capture_output=True, text=True, timeout=120)
    assert searched.returncode == 0 and re.match(r"\d+ articles? match", searched.stdout), searched.stderr
    es.indices.refresh(index=alias)
    assert es.count(index=alias, query={"term": {"seed": True}}).body["count"] == 5
    seeds = re.search(r"raqib search داعش --seeds: (\d+) of the 5 seeds\n((?:  .+\n?){5})", out)
    assert seeds and seeds.group(1) == "5", out[-2000:]
    assert {line.split(":")[0].strip() for line in seeds.group(2).splitlines()} == {
        "alittihad", "almarjie", "noonpost", "strategic_observatory", "almayadeen"}

    again = _demo(env, "--es", es_url, "--mirror-port", str(port))
    assert "0 articles fetched, 0 new and 0 updated" in again
    assert f"The index now holds {total} articles" in again
    assert "[5/5] alerts: 0 new matches" in again


def _readme_block(after_heading: str) -> list[str]:
    """The command lines of the first ```sh block after a README heading, comments removed."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split(after_heading, 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_way_to_get_raqib_on_path_works_in_a_new_shell():
    """A new login shell, nothing inherited but HOME: `raqib` is not found, and after the
    README's line it is (before, the README never said how; the demo's hints failed there)."""
    [activate] = _readme_block("## Getting `raqib` on PATH")
    assert activate.startswith(". .venv/bin/activate")
    shell = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"}
    before = subprocess.run(["bash", "-c", "raqib --help"], cwd=ROOT, env=shell, capture_output=True, text=True)
    assert before.returncode == 127                         # command not found
    after = subprocess.run(["bash", "-c", f"{activate} && raqib --help"], cwd=ROOT, env=shell,
                           capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith("usage: raqib") and "RAQIB_CONFIG" in after.stdout


def test_the_hints_say_how_to_stop_the_node_the_demo_leaves_running(tmp_path):
    from crawler.cli.commands.demo import _hints
    from crawler.ops.esnode import Node

    text = _hints("/opt/raqib/bin/raqib", "http://127.0.0.1:9201", tmp_path / "config", Node(port=9201, heap="1g"))
    assert ("The Elasticsearch node at http://127.0.0.1:9201 keeps running for these searches (heap 1g, about 1 GB "
            "of memory); stop it with `/opt/raqib/bin/raqib es stop --port 9201`.") in text
    assert f"  /opt/raqib/bin/raqib --config {tmp_path / 'config'} status " in text
    assert "keeps running" not in _hints("raqib", "http://es.example:9200", tmp_path, None)   # a cluster of the user's


def test_printed_commands_name_raqib_as_a_new_shell_finds_it(tmp_path):
    """Plain `raqib` only where a new shell finds this installation (pipx's link in
    ~/.local/bin); inside an unactivated or activated virtualenv, its full path."""
    venv_raqib = os.path.join(os.path.dirname(sys.executable), "raqib")
    assert os.path.exists(venv_raqib), "the tests run from the project's virtualenv"
    code = "from pipelines.process import raqib_command; print(raqib_command())"

    def printed(path: str) -> str:
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PATH=path),
                              capture_output=True, text=True, check=True).stdout.strip()

    assert printed("/usr/bin:/bin") == venv_raqib                                      # not activated
    assert printed(f"{os.path.dirname(venv_raqib)}:/usr/bin:/bin") == venv_raqib       # activated here only
    links = tmp_path / "local-bin"
    links.mkdir()
    (links / "raqib").symlink_to(venv_raqib)
    assert printed(f"{links}:/usr/bin:/bin") == "raqib"                               # as pipx installs it
