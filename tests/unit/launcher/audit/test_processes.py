"""What the kernel holds for a container's processes — uids, gids, supplementary groups —
read from /proc, judged by the compiler's own rule and compared with the plan's `User`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_lok.launcher.audit import score
from mcp_lok.launcher.audit.cis import Context
from mcp_lok.launcher.audit.collect import audit
from mcp_lok.launcher.audit.normalise import View
from mcp_lok.launcher.audit.processes import MAX_PROCESSES, Process, notes, read

from .test_collect import launched

GROUPS = {0: "is root's group", 105: "may open `/run/docker.sock`"}


def fake(
    proc: Path,
    pid: int,
    uid: str = "65534",
    gid: str = "65534",
    groups: str = "65534",
    *,
    name: str = "python3",
    children: tuple[int, ...] = (),
    uid_map: str | None = None,
) -> None:
    folder = proc / str(pid)
    (folder / "task" / str(pid)).mkdir(parents=True)
    (folder / "status").write_text(
        f"Name:\t{name}\nUmask:\t0022\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
        f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}\nGroups:\t{groups} \n"
    )
    (folder / "task" / str(pid) / "children").write_text(" ".join(map(str, children)) + " ")
    if uid_map is not None:
        (folder / "uid_map").write_text(uid_map)
        (folder / "gid_map").write_text(uid_map)


def test_the_init_and_its_children_are_read(proc: Path) -> None:
    fake(proc, 10, name="docker-init", children=(11, 12))
    fake(proc, 11, groups="65534 105")
    # 12 is gone by the time it is read
    found = read(10)
    assert [(p.pid, p.name) for p in found] == [(10, "docker-init"), (11, "python3")]
    assert found[1].groups == {65534, 105}
    assert found[1].all_gids == {65534, 105}
    assert found[1].inside == {"uids": {65534}, "gids": {65534}, "groups": {65534, 105}}


def test_nothing_is_read_for_a_container_that_does_not_run(proc: Path) -> None:
    assert read(0) == []
    assert read(999) == []


def test_a_status_that_cannot_be_read_is_skipped(proc: Path) -> None:
    fake(proc, 10, children=(11,))
    (proc / "11").mkdir()
    (proc / "11" / "status").write_text("Name:\tx\nUid:\tnot numbers\n")
    assert [p.pid for p in read(10)] == [10]


def test_the_children_are_bounded(proc: Path) -> None:
    fake(proc, 10, children=tuple(range(100, 200)))
    for pid in range(100, 200):
        fake(proc, pid)
    assert len(read(10)) == MAX_PROCESSES


def test_without_children_files_the_init_alone_is_judged(proc: Path) -> None:
    fake(proc, 10)
    (proc / "10" / "task" / "10" / "children").unlink()
    assert [p.pid for p in read(10)] == [10]
    (proc / "10" / "task" / "10").rmdir()
    (proc / "10" / "task").rmdir()
    assert [p.pid for p in read(10)] == [10]


def test_ids_under_a_user_namespace_are_mapped_back_into_the_container(proc: Path) -> None:
    fake(proc, 10, uid="165534", gid="165534", groups="165534 5", uid_map="0 100000 65536\n")
    (found,) = read(10)
    assert found.uids == {165534}  # judged as the host sees them
    assert found.inside == {"uids": {65534}, "gids": {65534}, "groups": {65534}}
    assert 5 in found.groups  # unmapped on the inside: the overflow id
    assert notes([found], "65534:65534", GROUPS, "server") == []


def test_a_damaged_id_map_is_ignored(proc: Path) -> None:
    fake(proc, 10, uid_map="garbage\n0 0\n")
    assert read(10)[0].inside["uids"] == {65534}


# --- judging ------------------------------------------------------------------------------


def process(uid: int = 65534, gid: int = 65534, groups: tuple[int, ...] = (65534,)) -> Process:
    ids = {"uids": frozenset({uid}), "gids": frozenset({gid}), "groups": frozenset(groups)}
    return Process(7, "python3", ids["uids"], ids["gids"], ids["groups"], ids)


def test_an_untampered_process_says_nothing() -> None:
    assert notes([process()], "65534:65534", GROUPS, "server") == []


def test_a_privileged_supplementary_group_is_reported_and_differs_from_the_plan() -> None:
    found = notes([process(groups=(65534, 105))], "65534:65534", GROUPS, "server")
    assert [n.message for n in found] == [
        "the server's process 7 (`python3`) runs in the group 105 (it may open "
        "`/run/docker.sock` on this host), which its plan does not acknowledge",
        "the server's process 7 (`python3`) runs as uid 65534, gid 65534 with the "
        "supplementary groups 105, 65534; its plan says `User` 65534:65534",
    ]
    assert all(n.drift for n in found)
    assert found[0].hint


def test_the_plans_own_privileged_group_was_acknowledged_when_it_was_compiled() -> None:
    assert notes([process(gid=105, groups=(105,))], "65534:105", GROUPS, "server") == []
    assert notes([process(uid=0, gid=0, groups=(0,))], "0:0", GROUPS, "server") == []


@pytest.mark.parametrize(
    ("tampered", "words"),
    [
        (process(uid=0), "as root (uid 0)"),
        (process(gid=0, groups=(0,)), "in root's group (gid 0)"),
        (process(gid=105, groups=(105,)), "in the group 105 (it may open `/run/docker.sock` on"),
    ],
)
def test_root_root_group_or_a_privileged_gid_the_plan_did_not_name_is_reported(
    tampered: Process, words: str
) -> None:
    messages = [n.message for n in notes([tampered], "65534:65534", GROUPS, "gate")]
    assert messages[0].startswith(f"the gate's process 7 (`python3`) runs {words}")
    assert messages[0].endswith("which its plan does not acknowledge")
    assert "its plan says `User` 65534:65534" in messages[1]


def test_without_a_plan_every_privilege_is_reported() -> None:
    (found,) = notes([process(uid=0, gid=0, groups=(0,))], None, GROUPS, "container")
    assert found.message == (
        "the container's process 7 (`python3`) runs as root (uid 0), and no plan acknowledges it"
    )


def test_a_plan_that_named_a_user_in_words_is_not_compared() -> None:
    # a record from before users were resolved at launch
    assert notes([process()], "nobody", GROUPS, "server") == []


def test_the_score_judges_the_ids_the_kernel_holds() -> None:
    view = View({"User": "65534:65534"})

    def kinds(c: Context, groups: dict[int, str], found: list[Process]) -> list[str]:
        return [r.kind for r in score._identity(c, groups, found)]

    c = Context(view)
    assert kinds(c, GROUPS, [process()]) == ["uid"]
    assert kinds(c, GROUPS, [process(groups=(65534, 105))]) == ["uid", "privileged-group"]
    assert kinds(c, GROUPS, [process(uid=0)]) == ["uid", "root"]
    assert kinds(c, GROUPS, [process(gid=0, groups=(0,))]) == ["uid", "root-group"]
    # without the processes, `User`'s numbers are judged
    assert kinds(Context(View({"User": "65534:105"})), GROUPS, []) == ["uid", "privileged-group"]
    assert kinds(Context(View({"User": "0:0"})), GROUPS, []) == ["root"]
    assert kinds(Context(View({"User": "app"})), GROUPS, []) == ["named-user"]


def test_audit_reports_a_servers_real_groups(tmp_path: Path, proc: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    pid = data["server"]["State"]["Pid"]
    fake(proc, pid, name="docker-init", children=(pid + 1,))
    fake(proc, pid + 1, groups="65534 105")
    user = data["record"]["plan"]["container"]["User"]
    assert user == "65534:65534"
    (found,) = audit(engine, store, None)  # type: ignore[arg-type]
    messages = [n.message for n in found.notes]
    assert any("the group 105" in m and f"process {pid + 1}" in m for m in messages), messages
    assert found.drifted
    assert "privileged-group" in {r.kind for r in found.rows}


def test_audit_judges_an_unrecorded_containers_processes(tmp_path: Path, proc: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    stray = json.loads(json.dumps(data["server"]))
    stray["Id"], stray["Name"] = "e" * 64, "/by-hand"
    stray["State"]["Pid"] = 4242
    engine.add(stray)
    fake(proc, 4242, uid="0", gid="0", groups="0")
    found = audit(engine, store, None)  # type: ignore[arg-type]
    (unrecorded,) = [a for a in found if not a.recorded]
    assert any(
        "as root (uid 0), and no plan acknowledges it" in n.message for n in unrecorded.notes
    )
    assert "root" in {r.kind for r in unrecorded.rows}


def test_what_exec_started_in_the_cgroup_is_judged_too(
    proc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lok.launcher.audit import processes

    cgroups = tmp_path / "cg"
    monkeypatch.setattr(processes, "CGROUPS", cgroups)
    fake(proc, 10, name="docker-init", children=(11,))
    fake(proc, 11)
    fake(proc, 50, name="sleep", gid="105", groups="105")  # `exec --user 65534:105`
    (proc / "10" / "cgroup").write_text("8:pids:/docker/c1\n")
    (cgroups / "pids" / "docker" / "c1").mkdir(parents=True)
    (cgroups / "pids" / "docker" / "c1" / "cgroup.procs").write_text("10\n11\n50\n")
    found = read(10)
    assert [p.pid for p in found] == [10, 11, 50]
    (note, _) = notes(found, "65534:65534", GROUPS, "server")
    assert note.message.startswith("the server's process 50 (`sleep`) runs in the group 105")
