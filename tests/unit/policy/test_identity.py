"""`identity`: an image's /etc/passwd and /etc/group read within bounds, a `user` resolved
into the numbers it means, and those numbers judged like numbers written in the policy —
a name that maps to root, or to a group privileged on the host, is refused like 0."""

from __future__ import annotations

import pytest

from mcp_lok.policy import identity, rules
from mcp_lok.policy.build import build
from mcp_lok.policy.diagnostics import Code, Diagnostic, PolicyError
from mcp_lok.policy.identity import Account, Accounts, Group, Privilege
from mcp_lok.policy.ir import IR, Acknowledged, Insecurity, User
from mcp_lok.policy.origin import Span

AT = Span("p.lok", 4, 1, 4, 12)
MARK = Span("p.lok", 4, 1, 4, 9)
HOST_GROUPS = {0: "is root's group", 105: "may open `/run/docker.sock`"}
PASSWD = """\
root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1001::/home/app:/bin/sh
toor:x:0:0::/:/bin/sh
dockerish:x:2000:105::/:/bin/sh
gatey:x:65533:100::/:/bin/sh
"""
GROUP = """\
root:x:0:
nogroup:x:65534:
staff:x:50:app
docker:x:105:nobody,app
"""
IMAGE = identity.parse(PASSWD, GROUP)


# --- reading the image's files -------------------------------------------------------


def test_entries_are_read_in_order_with_numbers() -> None:
    assert IMAGE.users[:3] == (
        Account("root", 0, 0),
        Account("daemon", 1, 1),
        Account("nobody", 65534, 65534),
    )
    assert IMAGE.groups == (
        Group("root", 0),
        Group("nogroup", 65534),
        Group("staff", 50),
        Group("docker", 105),
    )
    assert IMAGE.truncated == ()


@pytest.mark.parametrize(
    "line",
    [
        "",
        "# app:x:1000:1000::/:/bin/sh",
        "+app:x:1000:1000::/:/bin/sh",  # NIS: refers to another database
        "-app:x:1000:1000::/:/bin/sh",
        "+",
        "app:x:1000",  # too short
        "app",
        "app:x::1000::/:/bin/sh",  # no uid
        "app:x:1000:x::/:/bin/sh",  # a gid that is not a number
        "app:x:-1:1000::/:/bin/sh",
        "app:x:٣:1000::/:/bin/sh",  # digits of another script
        "app:x: 1000:1000::/:/bin/sh",
        "app:x:2147483648:1000::/:/bin/sh",  # beyond what the engines accept
        "App:x:1000:1000::/:/bin/sh",  # a name no policy can write
        "a\x1b[31m:x:1000:1000::/:/bin/sh",  # nor print
        ":x:1000:1000::/:/bin/sh",
    ],
)
def test_lines_that_name_nothing_a_policy_could_resolve_are_skipped(line: str) -> None:
    assert identity.parse(line + "\n", "").users == ()


def test_a_passwd_line_needs_only_its_first_four_fields_and_may_end_in_crlf() -> None:
    assert identity.parse("app:x:1000:1001\r\n", "staff:x:50\r\n") == Accounts(
        (Account("app", 1000, 1001),), (Group("staff", 50),)
    )


def test_duplicates_are_kept_and_the_first_wins_a_lookup() -> None:
    image = identity.parse("app:x:1000:1000::/:/bin/sh\napp:x:0:0::/:/bin/sh\n", "")
    assert len(image.users) == 2
    policy = identity.resolve(_policy("app"), image, HOST_GROUPS)
    assert policy.user.value == "1000:1000"


def test_a_huge_file_is_read_only_to_its_bound() -> None:
    filler = "".join(f"u{i}:x:{10000 + i}:{10000 + i}::/:/bin/sh\n" for i in range(40000))
    assert len(filler) > identity.MAX_FILE
    image = identity.parse(filler + "late:x:3000:3000::/:/bin/sh\n", "")
    assert image.truncated == ("/etc/passwd",)
    assert image.users[-1].name != "late"
    assert all(u.uid == 10000 + int(u.name[1:]) for u in image.users)  # no partial last line
    with pytest.raises(PolicyError) as caught:
        identity.resolve(_policy("late"), image, HOST_GROUPS)
    (problem,) = caught.value.diagnostics
    assert problem.code is Code.USER_UNKNOWN
    assert problem.help is not None
    assert "(only the first 1024 KiB of the image's /etc/passwd were read)" in problem.help


def test_a_missing_file_has_no_entries() -> None:
    assert identity.parse("", "") == Accounts()


# --- the numbers a user spells ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "numbers"),
    [
        ("1000:1000", (1000, 1000)),
        ("00", (0, None)),
        ("root", (0, None)),
        ("root:root", (0, 0)),
        ("65534:root", (65534, 0)),
        ("app", (None, None)),
        ("app:0", (None, 0)),
        ("1000:staff", (1000, None)),
        ("rooter", (None, None)),
    ],
)
def test_spelled(spec: str, numbers: tuple[int | None, int | None]) -> None:
    assert identity.spelled(spec) == numbers


@pytest.mark.parametrize(
    ("value", "numbers"),
    [("1000:1000", (1000, 1000)), ("01:02", (1, 2)), ("1000", None), ("app:1", None)],
)
def test_numeric(value: str, numbers: tuple[int, int] | None) -> None:
    assert identity.numeric(value) == numbers


def test_the_judgement() -> None:
    root, socket = (
        Privilege(Insecurity.ROOT_USER, 0, "is root"),
        Privilege(Insecurity.PRIVILEGED_GROUP, 105, "may open `/run/docker.sock`"),
    )
    assert identity.judge(0, [0], HOST_GROUPS) == [root]
    assert identity.judge(0, [105, 0], HOST_GROUPS) == [root, socket]
    assert identity.judge(1000, [1000, 105, 105], HOST_GROUPS) == [socket]
    # gid 0 is root's group even on a host that did not say so
    assert identity.judge(1000, [0], {}) == [
        Privilege(Insecurity.PRIVILEGED_GROUP, 0, "is root's group")
    ]
    assert identity.judge(None, [44], HOST_GROUPS) == []
    assert root.words() == "uid 0 is root"
    assert socket.words() == "the group 105 may open `/run/docker.sock`"
    assert identity.group_privilege(0, 0, HOST_GROUPS) is None
    assert identity.group_privilege(0, 105, HOST_GROUPS) == "may open `/run/docker.sock`"


def test_the_gates_ids_are_reserved() -> None:
    assert identity.reserved(65533, 1) == "uid 65533 is the gate's"
    assert identity.reserved(1, 65533) == "the group 65533 is the gate's"
    assert identity.reserved(None, None) is None
    assert (identity.GATE_UID, identity.GATE_GID) == (65533, 65533)


# --- resolving a user against the image ------------------------------------------------


def _policy(spec: str, *, insecure: bool = False) -> IR:
    rule = rules.User(spec=spec, origin=AT, insecure=MARK if insecure else None, reason="r")
    return build([rule], "p.lok")


def _resolve(spec: str, *, insecure: bool = False) -> User:
    policy = identity.resolve(_policy(spec, insecure=insecure), IMAGE, HOST_GROUPS)
    return policy.user


def _refusal(spec: str, *, insecure: bool = False) -> Diagnostic:
    with pytest.raises(PolicyError) as caught:
        _resolve(spec, insecure=insecure)
    (problem,) = caught.value.diagnostics
    assert problem.origin == AT  # underlined at the `user` rule
    return problem


@pytest.mark.parametrize(
    ("spec", "value", "found"),
    [
        ("app", "1000:1001", "`app` and its group in the image's /etc/passwd"),
        ("nobody", "65534:65534", "`nobody` and its group in the image's /etc/passwd"),
        ("1000", "1000:1001", "the group of uid 1000 in the image's /etc/passwd"),
        ("65534", "65534:65534", "the group of uid 65534 in the image's /etc/passwd"),
        ("app:staff", "1000:50", "`app` in the image's /etc/passwd, `staff` in its /etc/group"),
        ("app:7", "1000:7", "`app` in the image's /etc/passwd"),
        ("4000:staff", "4000:50", "`staff` in the image's /etc/group"),
    ],
)
def test_a_user_resolves_to_numbers_and_says_where_they_came_from(
    spec: str, value: str, found: str
) -> None:
    assert _resolve(spec) == User(value, AT, written=spec, found=found)


def test_a_user_written_as_numbers_needs_no_image() -> None:
    policy = _policy("1000:1000")
    assert identity.resolve(policy, Accounts(), HOST_GROUPS) is policy


def test_the_groups_the_image_lists_a_user_in_are_not_added() -> None:
    # /etc/group lists `nobody` in `docker` (105): the engines would add it for `nobody`
    # or `65534`, never for the explicit `65534:65534` the create body carries
    assert _resolve("nobody").value == "65534:65534"
    assert _resolve("65534").value == "65534:65534"


@pytest.mark.parametrize("spec", ["toor", "root", "toor:nogroup"])
def test_a_name_the_image_maps_to_root_is_refused_like_0(spec: str) -> None:
    problem = _refusal(spec)
    assert problem.code is Code.INSECURE_REQUIRED
    assert "and uid 0 is root: this is dangerous and needs an `insecure` marker" in problem.message


def test_a_name_the_image_maps_to_root_is_allowed_and_acknowledged_with_insecure() -> None:
    policy = identity.resolve(_policy("toor", insecure=True), IMAGE, HOST_GROUPS)
    assert policy.user.value == "0:0"
    assert policy.insecure == (Acknowledged(Insecurity.ROOT_USER, "toor", MARK),)
    assert policy.insecure[0].origin == MARK


def test_root_acknowledged_by_its_words_is_acknowledged_once() -> None:
    policy = identity.resolve(_policy("root", insecure=True), IMAGE, HOST_GROUPS)
    assert [a.what for a in policy.insecure] == [Insecurity.ROOT_USER]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "dockerish",
            "`dockerish` is 2000:105 in the image, and the group 105 may open "
            "`/run/docker.sock`: this is dangerous and needs an `insecure` marker",
        ),
        (
            "app:docker",
            "`app:docker` is 1000:105 in the image, and the group 105 may open "
            "`/run/docker.sock`: this is dangerous and needs an `insecure` marker",
        ),
        (
            "app:root",
            "`app:root` is 1000:0 in the image, and the group 0 is root's group: this is "
            "dangerous and needs an `insecure` marker",
        ),
    ],
)
def test_a_name_that_maps_to_a_privileged_group_is_refused(spec: str, message: str) -> None:
    assert _refusal(spec) == Diagnostic(
        Code.INSECURE_REQUIRED,
        message,
        AT,
        help='write `insecure` before it with `because "…"` to accept the risk, or choose a '
        "user the image maps to other numbers",
    )


def test_a_privileged_group_with_insecure_is_acknowledged_and_explained() -> None:
    policy = identity.resolve(_policy("dockerish", insecure=True), IMAGE, HOST_GROUPS)
    assert policy.user.privileged == "may open `/run/docker.sock`"
    assert policy.insecure == (
        Acknowledged(
            Insecurity.PRIVILEGED_GROUP, "the group 105 may open `/run/docker.sock`", MARK
        ),
    )


@pytest.mark.parametrize("spec", ["gatey", "app:65533", "65533"])
def test_a_name_that_maps_to_the_gates_ids_is_reserved(spec: str) -> None:
    for insecure in (False, True):
        assert _refusal(spec, insecure=insecure).code is Code.USER_RESERVED


def test_an_unknown_user_is_an_error_with_a_suggestion() -> None:
    assert _refusal("apq") == Diagnostic(
        Code.USER_UNKNOWN,
        "the image has no user `apq`",
        AT,
        help="did you mean `app`? or write numbers, e.g. `user 1000:1000`",
    )
    assert _refusal("zzzzzz").help == (
        "use a name from the image's /etc/passwd, or write numbers, e.g. `user 1000:1000`"
    )


def test_an_unknown_group_is_an_error() -> None:
    assert _refusal("app:staf") == Diagnostic(
        Code.GROUP_UNKNOWN,
        "the image has no group `staf`",
        AT,
        help="did you mean `staff`? or write the gid",
    )


def test_a_uid_without_an_entry_or_a_group_would_run_in_group_0() -> None:
    assert _refusal("4000") == Diagnostic(
        Code.USER_NO_GROUP,
        "uid 4000 is not in the image's /etc/passwd, so the engine would run it in the "
        "group 0 (root's)",
        AT,
        help="write the group too, e.g. `user 4000:4000`",
    )


def test_a_numeric_uid_is_looked_up_by_number_not_by_name() -> None:
    image = identity.parse("1000:x:0:0::/:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n", "")
    policy = identity.resolve(_policy("1000"), image, HOST_GROUPS)
    assert policy.user.value == "1000:1000"
