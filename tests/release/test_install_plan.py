"""The Install plan, rule by rule as the CodeDeploy agent plans it (installer.rb, install_instruction.rb,
linux_permission_info.rb), and its use by the validator before upload."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from release.appspec import FileMapping, PermissionRule, load_appspec
from release.errors import AppSpecError
from release.install_plan import (
    PLAN_RULES,
    Archive,
    Copy,
    MakeDirectory,
    PlanError,
    SetPermissions,
    expand_path,
    plan_install,
)

ARCHIVE = Archive.of(["app/server.py", "app/static/site.css", "app/static/app.js", "config/app.conf", "README"])


@dataclass(frozen=True)
class Existing:
    """An instance where `files` and `directories` (and their parents) already exist."""

    files: frozenset[str] = frozenset()
    directories: frozenset[str] = field(default_factory=lambda: frozenset({"/", "/opt", "/etc"}))

    def exists(self, path: str) -> bool:
        return expand_path(path) in self.files or self.is_dir(path)

    def is_dir(self, path: str) -> bool:
        return expand_path(path) in self.directories


def rule(obj: str, **values: object) -> PermissionRule:
    defaults: dict[str, object] = {
        "pattern": "**",
        "except_": (),
        "owner": None,
        "group": None,
        "mode": "644",
        "type": ("file", "directory"),
    }
    defaults.update(values)
    return PermissionRule(obj, **defaults)  # type: ignore[arg-type]


def plan_error(files: list[FileMapping], permissions: list[PermissionRule] | None = None, **kw: object) -> PlanError:
    with pytest.raises(PlanError) as caught:
        plan_install(files, permissions or [], ARCHIVE, instance=Existing(), **kw)  # type: ignore[arg-type]
    return caught.value


# --- copies and directories ------------------------------------------------------------------------------------------


def test_a_directory_source_plans_its_missing_parents_then_its_tree_before_any_permission() -> None:
    plan = plan_install([FileMapping("app", "/opt/demo/app")], [rule("/opt/demo")], ARCHIVE, instance=Existing())
    assert plan.instructions[:5] == (
        MakeDirectory("/opt/demo"),
        MakeDirectory("/opt/demo/app"),
        Copy("app/server.py", "/opt/demo/app/server.py"),
        MakeDirectory("/opt/demo/app/static"),
        Copy("app/static/app.js", "/opt/demo/app/static/app.js"),
    )
    assert all(isinstance(item, SetPermissions) for item in plan.instructions[6:])


def test_a_file_source_lands_inside_its_destination_under_its_own_name() -> None:
    plan = plan_install([FileMapping("config/app.conf", "/etc/demo")], [], ARCHIVE, instance=Existing())
    assert plan.instructions == (MakeDirectory("/etc/demo"), Copy("config/app.conf", "/etc/demo/app.conf"))


def test_two_sources_for_one_destination_fail_install_whatever_file_exists_behavior_says() -> None:
    files = [FileMapping("app", "/opt/demo"), FileMapping("app/server.py", "/opt/demo/")]
    for behavior in (None, "OVERWRITE", "RETAIN"):
        error = plan_error(files, file_exists_behavior=behavior)
        assert (error.rule, error.key) == ("two-sources", "files[1]")
        assert "/opt/demo/server.py" in error.message


def test_a_file_copied_where_the_plan_makes_a_directory_fails_install() -> None:
    # app/static becomes a directory; a file named "static" copied into the same parent collides with it.
    archive = Archive.of(["app/static/site.css", "other/static"])
    files = [FileMapping("app", "/opt/demo"), FileMapping("other/static", "/opt/demo")]
    with pytest.raises(PlanError) as caught:
        plan_install(files, [], archive, instance=Existing())
    assert caught.value.rule == "file-vs-directory"


def test_a_directory_made_where_the_plan_copies_a_file_fails_install() -> None:
    archive = Archive.of(["other/static", "app/static/site.css"])
    files = [FileMapping("other/static", "/opt/demo"), FileMapping("app", "/opt/demo")]
    with pytest.raises(PlanError) as caught:
        plan_install(files, [], archive, instance=Existing())
    assert caught.value.rule == "file-vs-directory"


def test_a_file_already_on_the_instance_fails_install_by_default_and_names_it() -> None:
    instance = Existing(files=frozenset({"/opt/demo/server.py"}), directories=frozenset({"/", "/opt", "/opt/demo"}))
    with pytest.raises(PlanError) as caught:
        plan_install([FileMapping("app/server.py", "/opt/demo")], [], ARCHIVE, instance=instance)
    assert caught.value.rule == "file-exists"
    assert "a file already exists at /opt/demo/server.py" in caught.value.message


def test_overwrite_copies_over_an_existing_file_and_retain_plans_nothing_for_it() -> None:
    instance = Existing(files=frozenset({"/opt/demo/server.py"}), directories=frozenset({"/", "/opt", "/opt/demo"}))
    files = [FileMapping("app/server.py", "/opt/demo")]
    overwrite = plan_install(files, [], ARCHIVE, instance=instance, file_exists_behavior="OVERWRITE")
    retain = plan_install(files, [], ARCHIVE, instance=instance, file_exists_behavior="RETAIN")
    assert overwrite.instructions == (Copy("app/server.py", "/opt/demo/server.py"),)
    assert (retain.instructions, retain.retained) == ((), ("/opt/demo/server.py",))


# --- permissions -----------------------------------------------------------------------------------------------------


def test_a_file_object_with_a_pattern_fails_install() -> None:
    error = plan_error([FileMapping("config/app.conf", "/etc")], [rule("/etc/app.conf", pattern="*.conf")])
    assert (error.rule, error.key) == ("file-pattern", "permissions[0]")


def test_a_file_object_with_except_fails_install() -> None:
    error = plan_error([FileMapping("config/app.conf", "/etc")], [rule("/etc/app.conf", except_=("x",))])
    assert error.rule == "file-pattern"


def test_a_file_object_rule_for_directories_only_is_ignored_even_with_a_pattern() -> None:
    permissions = [rule("/etc/app.conf", pattern="*.conf", type=("directory",))]
    plan = plan_install([FileMapping("config/app.conf", "/etc")], permissions, ARCHIVE, instance=Existing())
    assert not any(isinstance(item, SetPermissions) for item in plan.instructions)


def test_a_default_acl_on_a_file_fails_install() -> None:
    error = plan_error([FileMapping("app", "/opt/demo")], [rule("/opt/demo", acls=("d:u:app:rwx",))])
    assert error.rule == "file-default-acl"


def test_two_rules_reaching_one_path_fail_install() -> None:
    permissions = [rule("/opt/demo"), rule("/opt/demo/static", mode="600")]
    error = plan_error([FileMapping("app", "/opt/demo")], permissions)
    assert (error.rule, error.key) == ("permission-twice", "permissions[1]")


def test_a_pattern_other_than_double_star_matches_only_the_direct_children() -> None:
    permissions = [rule("/opt/demo", pattern="*.css", type=("file",))]
    plan = plan_install([FileMapping("app", "/opt/demo")], permissions, ARCHIVE, instance=Existing())
    assert [item.path for item in plan.instructions if isinstance(item, SetPermissions)] == []
    nested = plan_install(
        [FileMapping("app", "/opt/demo")],
        [rule("/opt/demo/static", pattern="*.css", type=("file",))],
        ARCHIVE,
        instance=Existing(),
    )
    assert [item.path for item in nested.instructions if isinstance(item, SetPermissions)] == [
        "/opt/demo/static/site.css"
    ]


def test_except_removes_direct_children_from_a_rule() -> None:
    permissions = [rule("/opt/demo/static", except_=("*.js",), type=("file",))]
    plan = plan_install([FileMapping("app", "/opt/demo")], permissions, ARCHIVE, instance=Existing())
    assert [item.path for item in plan.instructions if isinstance(item, SetPermissions)] == [
        "/opt/demo/static/site.css"
    ]


def test_a_directory_rule_reaches_what_the_plan_creates_below_the_object_but_not_the_object() -> None:
    permissions = [rule("/opt/demo", type=("directory",))]
    plan = plan_install([FileMapping("app", "/opt/demo/app")], permissions, ARCHIVE, instance=Existing())
    assert [item.path for item in plan.instructions if isinstance(item, SetPermissions)] == [
        "/opt/demo/app",
        "/opt/demo/app/static",
    ]


def test_a_rule_whose_object_is_neither_installed_nor_an_existing_directory_is_ignored() -> None:
    plan = plan_install([FileMapping("app", "/opt/demo")], [rule("/srv/elsewhere")], ARCHIVE, instance=Existing())
    assert not any(isinstance(item, SetPermissions) for item in plan.instructions)


@pytest.mark.parametrize(
    ("path", "expanded"),
    [
        ("/opt/app/server.py", "/opt/app/server.py"),
        ("/", "/"),
        ("/opt/app/", "/opt/app"),
        ("//opt//app", "/opt/app"),
        ("/opt/./app/../web/.env", "/opt/web/.env"),
        ("/opt/app/..", "/opt"),
        ("/opt/.hidden/x", "/opt/.hidden/x"),
    ],
)
def test_paths_are_expanded_like_rubys_file_expand_path(path: str, expanded: str) -> None:
    assert expand_path(path) == expanded


def test_the_archive_knows_every_directory_of_its_files_and_their_direct_entries() -> None:
    # Given files at several depths, sharing some directories and not others
    archive = Archive.of(["a/b/c/d.txt", "a/x.txt", "a/b/y.txt", "e/f/g.txt", "top.txt", "a/b/c2/z.txt"])
    # Then every ancestor is a directory holding exactly its direct entries
    assert archive.directories == {"", "a", "a/b", "a/b/c", "a/b/c2", "e", "e/f"}
    assert archive.entries("") == ("a", "e", "top.txt")
    assert archive.entries("a") == ("b", "x.txt")
    assert archive.entries("a/b") == ("c", "c2", "y.txt")
    assert archive.entries("e") == ("f",)


def test_every_rule_the_planner_enforces_is_named_and_explained() -> None:
    assert set(PLAN_RULES) == {
        "two-sources",
        "file-vs-directory",
        "file-exists",
        "file-pattern",
        "file-default-acl",
        "permission-twice",
    }


# --- the validator plans before upload ------------------------------------------------------------------------------


def test_the_validator_refuses_an_impossible_plan_before_upload_naming_the_rule(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "server.py").write_text("print('hi')\n")
    (tmp_path / "appspec.yml").write_text(
        "version: 0.0\nos: linux\nfile_exists_behavior: OVERWRITE\nfiles:\n"
        "  - source: app\n    destination: /opt/demo\n  - source: app/server.py\n    destination: /opt/demo\n"
    )
    with pytest.raises(AppSpecError) as caught:
        load_appspec(tmp_path)
    (problem,) = caught.value.problems
    assert problem.key == "files[1]"
    assert problem.message.startswith("Install cannot be planned: two sources, 'app/server.py' and 'app/server.py'")
    assert "(rule: one source per destination)" in problem.message
