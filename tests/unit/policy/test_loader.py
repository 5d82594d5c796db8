"""The loader: built-ins, files, `extends` spliced in place (parents first), cycles, and
every way a file can fail to be read — all reported as diagnostics with the texts read."""

from __future__ import annotations

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.diagnostics import Code, Diagnostic, PolicyError
from mcp_lok.policy.loader import BUILTINS, Reader, builtin_rules, is_profile, load, read_text
from mcp_lok.policy.origin import Default, Pointer, Span

NOT_FOUND_HELP = "name a file, or a built-in: `stdio`, `none`, `network`"


def rejected(source: str, read: Reader = read_text) -> PolicyError:
    """What the compiler raises for the problems `load` found reading SOURCE."""
    loaded = load(source, read)
    assert loaded.diagnostics
    return PolicyError(loaded.diagnostics, loaded.texts)


def line(file: str, number: int, text: str, indent: int = 0) -> Span:
    return Span(file, number, indent + 1, number, indent + len(text) + 1)


def test_the_builtins() -> None:
    assert list(BUILTINS) == ["stdio", "none", "network"]
    assert builtin_rules("stdio") == [rules.NetworkNone(origin=Default("stdio"))]
    assert builtin_rules("none")[0].origin == Default("stdio")
    [open_rule] = builtin_rules("network")
    assert open_rule == rules.NetworkOpen(origin=Default("network"))
    # the built-in's name is its own insecure marker
    assert (open_rule.origin, open_rule.insecure) == (Default("network"), Default("network"))


@pytest.mark.parametrize("name", ["stdio", "none", "network"])
def test_loading_a_builtin_reads_nothing(files, name: str) -> None:
    loaded = load(name, files.read)
    assert (loaded.name, loaded.rules, loaded.texts) == (name, builtin_rules(name), {})
    assert files.reads == []


def test_a_policy_file(files) -> None:
    files["/p/a.lok"] = "# a comment\nuser 1000\n  read /srv\n"
    loaded = load("/p/a.lok", files.read)
    assert loaded.name == "/p/a.lok"
    assert loaded.rules == [
        rules.User(spec="1000", origin=line("/p/a.lok", 2, "user 1000")),
        rules.Read(path="/srv", origin=line("/p/a.lok", 3, "read /srv", 2)),
    ]
    assert loaded.rules[1].origin == line("/p/a.lok", 3, "read /srv", 2)
    assert loaded.texts == {"/p/a.lok": files.entries["/p/a.lok"]}


def test_a_json_profile_goes_to_the_profile_loader(files) -> None:
    files["/p/p.json"] = '{"read": ["/srv"]}'
    [rule] = load("/p/p.json", files.read).rules
    assert rule == rules.Read(path="/srv", origin=Pointer("/p/p.json", "/read/0"))
    assert isinstance(rule.origin, Pointer)
    assert rule.origin.pointer == "/read/0"


def test_a_profile_is_recognised_by_its_name_or_its_first_character() -> None:
    assert is_profile("p.json", "")
    assert is_profile("profile", '  \n {"read": []}')
    assert not is_profile("p.lok", "read /srv")
    assert not is_profile("p.lok", "")


def test_a_missing_source(files) -> None:
    caught = rejected("/p/missing.lok", files.read)
    assert caught.diagnostics == (
        Diagnostic(Code.SOURCE_NOT_FOUND, "`/p/missing.lok` does not exist", None, NOT_FOUND_HELP),
    )
    assert caught.sources == {}


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (IsADirectoryError(21, "Is a directory"), "is a directory"),
        (OSError("Disk on fire"), "disk on fire"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "it is not UTF-8 text"),
    ],
)
def test_an_unreadable_source(files, failure: Exception, reason: str) -> None:
    files["/p/a.lok"] = failure
    caught = rejected("/p/a.lok", files.read)
    assert caught.diagnostics == (
        Diagnostic(Code.SOURCE_UNREADABLE, f"cannot read `/p/a.lok`: {reason}", None),
    )


def test_parse_errors_come_back_with_the_text(files) -> None:
    files["/p/a.lok"] = "user 1000\nfrobnicate all\n"
    caught = rejected("/p/a.lok", files.read)
    assert caught.diagnostics == (
        Diagnostic(
            Code.PARSE_UNKNOWN_KEYWORD,
            "unknown keyword `frobnicate`",
            line("/p/a.lok", 2, "frobnicate all"),
        ),
    )
    assert caught.sources == {"/p/a.lok": "user 1000\nfrobnicate all\n"}


def test_extends_a_builtin_is_spliced_in_place(files) -> None:
    files["/p/a.lok"] = "user 1000\nextends network\nread /srv\n"
    assert [type(r) for r in load("/p/a.lok", files.read).rules] == [
        rules.User,
        rules.NetworkOpen,
        rules.Read,
    ]
    assert files.reads == ["/p/a.lok"]


def test_extends_a_file_next_to_the_child_puts_the_parent_first(files) -> None:
    files["/p/a.lok"] = "extends base.lok\nuser 1001\n"
    files["/p/base.lok"] = "extends stdio\nuser 1000\n"
    loaded = load("/p/a.lok", files.read)
    assert loaded.rules == [
        rules.NetworkNone(origin=Default("stdio")),
        rules.User(spec="1000", origin=line("/p/base.lok", 2, "user 1000")),
        rules.User(spec="1001", origin=line("/p/a.lok", 2, "user 1001")),
    ]
    assert [r.origin for r in loaded.rules[1:]] == [
        line("/p/base.lok", 2, "user 1000"),
        line("/p/a.lok", 2, "user 1001"),
    ]
    assert set(loaded.texts) == {"/p/a.lok", "/p/base.lok"}
    assert loaded.name == "/p/a.lok"


def test_extends_an_absolute_path(files) -> None:
    files["/p/a.lok"] = "extends /shared/base.lok\n"
    files["/shared/base.lok"] = "read /srv\n"
    assert load("/p/a.lok", files.read).rules == [
        rules.Read(path="/srv", origin=line("/shared/base.lok", 1, "read /srv"))
    ]


def test_a_missing_parent_is_reported_at_the_extends(files) -> None:
    files["/p/a.lok"] = "extends gone.lok\nextends stdio\nextends also-gone.lok\n"
    caught = rejected("/p/a.lok", files.read)
    assert caught.diagnostics == (
        Diagnostic(
            Code.EXTENDS_NOT_FOUND,
            "`/p/gone.lok` does not exist",
            line("/p/a.lok", 1, "extends gone.lok"),
        ),
        Diagnostic(
            Code.EXTENDS_NOT_FOUND,
            "`/p/also-gone.lok` does not exist",
            line("/p/a.lok", 3, "extends also-gone.lok"),
        ),
    )
    assert caught.sources == {"/p/a.lok": files.entries["/p/a.lok"]}


def test_an_unreadable_parent_is_reported_at_the_extends(files) -> None:
    files["/p/a.lok"] = "extends base.lok\n"
    files["/p/base.lok"] = PermissionError(13, "Permission denied")
    caught = rejected("/p/a.lok", files.read)
    assert caught.diagnostics == (
        Diagnostic(
            Code.SOURCE_UNREADABLE,
            "cannot read `/p/base.lok`: permission denied",
            line("/p/a.lok", 1, "extends base.lok"),
        ),
    )


def test_a_parse_error_in_a_parent_keeps_both_texts(files) -> None:
    files["/p/a.lok"] = "extends base.lok\n"
    files["/p/base.lok"] = "read /srv\nnonsense\n"
    caught = rejected("/p/a.lok", files.read)
    assert [d.code for d in caught.diagnostics] == [Code.PARSE_UNKNOWN_KEYWORD]
    assert set(caught.sources) == {"/p/a.lok", "/p/base.lok"}


def test_a_cycle_is_refused_where_it_closes(files) -> None:
    files["/p/a.lok"] = "extends b.lok\nuser 1\n"
    files["/p/b.lok"] = "read /srv\nextends a.lok\n"
    caught = rejected("/p/a.lok", files.read)
    assert caught.diagnostics == (
        Diagnostic(
            Code.EXTENDS_CYCLE,
            "`a.lok` extends itself",
            line("/p/b.lok", 2, "extends a.lok"),
            help="a policy cannot inherit from a file that inherits from it",
        ),
    )
    assert files.reads == ["/p/a.lok", "/p/b.lok"]


def test_a_file_extending_itself_is_a_cycle(files) -> None:
    files["/p/a.lok"] = "extends ./a.lok\n"
    caught = rejected("/p/a.lok", files.read)
    assert [d.code for d in caught.diagnostics] == [Code.EXTENDS_CYCLE]


def test_a_diamond_is_not_a_cycle_and_applies_the_shared_parent_once(files) -> None:
    files["/p/a.lok"] = "extends b.lok\nextends c.lok\n"
    files["/p/b.lok"] = "extends d.lok\nuser 1000\n"
    files["/p/c.lok"] = "extends d.lok\n"
    files["/p/d.lok"] = "user 2000\n"
    loaded = load("/p/a.lok", files.read)
    # d comes in once, before b, so b's `user 1000` is not undone when c brings d again
    assert [r.origin for r in loaded.rules] == [
        line("/p/d.lok", 1, "user 2000"),
        line("/p/b.lok", 2, "user 1000"),
    ]


def test_extending_the_same_parent_twice_in_one_file_is_reported(files) -> None:
    files["/p/a.lok"] = "extends stdio\nextends stdio\n"
    caught = rejected("/p/a.lok", files.read)
    assert [d.code for d in caught.diagnostics] == [Code.EXTENDS_DUPLICATE]
    assert caught.diagnostics[0].origin == line("/p/a.lok", 2, "extends stdio")


def test_read_text_reads_utf8_from_disk(tmp_path) -> None:
    path = tmp_path / "a.lok"
    path.write_bytes("env GREETING=grüß\n".encode())
    assert read_text(str(path)) == "env GREETING=grüß\n"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        read_text(str(path))


def test_load_reads_from_disk_by_default(files, tmp_path) -> None:
    path = tmp_path / "a.lok"
    path.write_text("user 1000\n", encoding="utf-8")
    loaded = load(str(path))
    assert loaded.rules == [rules.User(spec="1000", origin=line(str(path), 1, "user 1000"))]
    assert loaded.texts == {str(path): "user 1000\n"}
    assert files.reads == []


# --- only policy text is ever shown (issue 11) -----------------------------------------------

SHADOW = (
    "root:$6$Vq2x1T0Zm$u0pLqJ3nXxK9fE8rW4yH7sD2aB5cG1hN6mQ0tR3v:19800:0:99999:7:::\n"
    "daemon:*:19800:0:99999:7:::\n"
)


def shown(error: PolicyError) -> str:
    """Everything a command prints for `error`: the rendered text and the JSON form."""
    from mcp_lok.policy.diagnostics import render_all

    as_json = [d.to_json() for d in error.diagnostics]
    return render_all(error.diagnostics, error.sources) + repr(as_json)


def refused_unread(files, source: str) -> Diagnostic:
    caught = rejected(source, files.read)
    (diagnostic,) = caught.diagnostics
    assert diagnostic.code is Code.SOURCE_KIND
    assert "/etc/shadow" not in files.reads
    return diagnostic


@pytest.mark.parametrize("target", ["/etc/shadow", "/etc/shadow.bak", "../x.lok.txt", "a.LOK"])
def test_extends_names_only_policy_files_and_profiles(files, target: str) -> None:
    files["/p/a.lok"] = f"read /srv\nextends {target}\n"
    files["/etc/shadow"] = SHADOW
    diagnostic = refused_unread(files, "/p/a.lok")
    assert files.reads == ["/p/a.lok"]  # refused before it is read
    assert diagnostic.message == f"`{target}` is neither a policy file nor a profile"
    assert diagnostic.origin == line("/p/a.lok", 2, f"extends {target}")
    assert diagnostic.help == (
        "`extends` names a policy file ending in `.lok`, a profile ending in `.json`, "
        "or a built-in: `stdio`, `none`, `network`"
    )


def test_a_source_names_only_a_policy_file_or_a_profile(files) -> None:
    files["/etc/shadow"] = SHADOW
    diagnostic = refused_unread(files, "/etc/shadow")
    assert files.reads == []
    assert diagnostic.origin is None
    assert diagnostic.help is not None
    assert diagnostic.help.startswith("a SOURCE is a policy")


def test_a_link_named_as_a_policy_is_judged_where_it_leads(tmp_path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(SHADOW)
    (tmp_path / "x.lok").symlink_to(secret)
    (tmp_path / "a.lok").write_text('read /srv\nextends "x.lok"\n')
    reads: list[str] = []

    def read(path: str) -> str:
        reads.append(path)
        return read_text(path)

    for source, origin in ((tmp_path / "x.lok", None), (tmp_path / "a.lok", 2)):
        caught = rejected(str(source), read)
        (diagnostic,) = caught.diagnostics
        assert diagnostic.code is Code.SOURCE_KIND
        written = str(source) if origin is None else "x.lok"
        assert diagnostic.message == (
            f"`{written}` leads to `{secret}`, which is neither a policy file nor a profile"
        )
        assert "$6$" not in shown(caught)
    assert str(tmp_path / "x.lok") not in reads


@pytest.mark.parametrize("how", ["source", "extends"])
def test_a_lok_file_that_is_not_a_policy_is_never_quoted(policy_files, how: str) -> None:
    policy_files["/p/shadow.lok"] = SHADOW
    policy_files["/p/a.lok"] = '# a policy\nread /srv\nextends "shadow.lok"\n'
    source = "/p/shadow.lok" if how == "source" else "/p/a.lok"
    caught = rejected(source, policy_files.read)
    (diagnostic,) = caught.diagnostics
    assert diagnostic.code is Code.SOURCE_NOT_POLICY
    assert diagnostic.message == (
        "`/p/shadow.lok` is not a policy: its first statement does not begin with a keyword "
        "of the language"
    )
    assert diagnostic.origin == Span("/p/shadow.lok", 1, 1, 1, 1)
    assert "/p/shadow.lok" not in caught.sources  # its text is not even kept
    printed = shown(caught)
    assert "$6$" not in printed
    assert "root" not in printed
    assert "daemon" not in printed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"auths": {"registry": {"auth": "aHVudGVyMg=="}}}', "it has none of the fields"),
        ('{"name": "aHVudGVyMg==", "token": 1}', "it has none of the fields"),
        ('["aHVudGVyMg=="]', "its top level is not an object"),
        ('\n  "aHVudGVyMg=="', "its top level is not an object"),
        ('{"token": "aHVudGVyMg==",', "it has none of the fields"),
    ],
)
def test_a_json_file_that_is_not_a_profile_is_never_quoted(
    policy_files, text: str, reason: str
) -> None:
    policy_files["/p/creds.json"] = text
    policy_files["/p/a.lok"] = 'extends "creds.json"\n'
    for source in ("/p/creds.json", "/p/a.lok"):
        caught = rejected(source, policy_files.read)
        (diagnostic,) = caught.diagnostics
        assert diagnostic.code is Code.SOURCE_NOT_POLICY
        assert diagnostic.message.startswith(f"`/p/creds.json` is not a profile: {reason}")
        printed = shown(caught)
        assert "aHVudGVyMg" not in printed
        assert "auths" not in printed
        assert "token" not in printed


def test_a_policy_or_profile_with_mistakes_is_still_shown(policy_files) -> None:
    # the user's own text: a bad value in the first statement, a typo in a JSON profile
    policy_files["/p/a.lok"] = "allow api.example.com port https\n"
    policy_files["/p/b.json"] = '{"raed": ["/srv"], "write": ["/out",]}'
    for source, quoted in (("/p/a.lok", "port https"), ("/p/b.json", '"raed"')):
        caught = rejected(source, policy_files.read)
        assert source in caught.sources
        assert quoted in shown(caught)


def test_a_link_between_the_two_kinds_is_read(tmp_path) -> None:
    (tmp_path / "p.lok").write_text("user 1000\n")
    (tmp_path / "q.lok").symlink_to(tmp_path / "p.lok")
    assert [r.origin.line for r in load(str(tmp_path / "q.lok")).rules] == [1]
