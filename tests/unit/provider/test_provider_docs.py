"""The generated Terraform reference: committed docs match the generator, every type has its examples and every
attribute a description, and the generator renders the schema the way the Registry pages need."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tf.schema import Attribute, Block, NestedBlock, NestMode, Schema
from tf.types import Bool, List, Map, NormalizedJson, Number, Set, String

from vaultguard.provider import docs
from vaultguard.provider.data_sources import DATA_SOURCES
from vaultguard.provider.data_sources.oauth_profile import Object
from vaultguard.provider.framework import ListNestedBlock
from vaultguard.provider.provider import PROVIDER_SCHEMA
from vaultguard.provider.resources import RESOURCES

ROOT = Path(__file__).resolve().parents[3]
RESOURCE_TYPES = sorted("vault_" + cls.get_name() for cls in RESOURCES)
DATA_SOURCE_TYPES = sorted("vault_" + cls.get_name() for cls in DATA_SOURCES)
SCHEMAS = {
    "provider": PROVIDER_SCHEMA,
    **{f"resource vault_{cls.get_name()}": cls.get_schema() for cls in RESOURCES},
    **{f"data source vault_{cls.get_name()}": cls.get_schema() for cls in DATA_SOURCES},
}


# ---- the committed docs and their sources ------------------------------------------------------------


def test_committed_docs_match_what_the_generator_writes() -> None:
    drifted = docs.drift(ROOT)

    assert not drifted, "Terraform docs are out of date; run `make docs`:\n  " + "\n  ".join(drifted)


@pytest.mark.parametrize("type_name", RESOURCE_TYPES)
def test_every_resource_has_an_example_and_an_import_script(type_name: str) -> None:
    for path in (docs.resource_example(type_name), docs.import_script(type_name)):
        assert (ROOT / path).is_file(), f"{path} is missing"
        assert (ROOT / path).read_text().strip(), f"{path} is empty"


@pytest.mark.parametrize("type_name", DATA_SOURCE_TYPES)
def test_every_data_source_has_an_example(type_name: str) -> None:
    path = docs.data_source_example(type_name)

    assert (ROOT / path).is_file(), f"{path} is missing"
    assert f'data "{type_name}"' in (ROOT / path).read_text(), f"{path} does not use the data source"


def test_the_provider_has_an_example() -> None:
    assert 'provider "vault"' in (ROOT / docs.PROVIDER_EXAMPLE).read_text()


def _undescribed(block: Schema | Block, prefix: str = "") -> list[str]:
    missing = [f"{prefix}{a.name}" for a in block.attributes if not (a.description or "").strip()]
    for nested in block.block_types:
        if not (nested.block.description or "").strip():
            missing.append(f"{prefix}{nested.type_name} (block)")
        missing += _undescribed(nested.block, f"{prefix}{nested.type_name}.")
    return missing


@pytest.mark.parametrize("owner", sorted(SCHEMAS))
def test_every_attribute_and_block_has_a_description(owner: str) -> None:
    schema = SCHEMAS[owner]

    assert (schema.description or "").strip(), f"{owner} has no description"
    assert _undescribed(schema) == [], f"{owner}: attributes without a description"


# ---- check mode ---------------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the examples and the committed docs, to break on purpose."""
    shutil.copytree(ROOT / docs.EXAMPLES, tmp_path / docs.EXAMPLES)
    shutil.copytree(ROOT / docs.DOCS, tmp_path / docs.DOCS)
    return tmp_path


def test_check_names_a_changed_a_missing_and_a_stale_page_and_exits_1(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkout / "docs/resources/policy.md").write_text("edited by hand\n")
    (checkout / "docs/data-sources/kv_secret_v2.md").unlink()
    (checkout / "docs/resources/removed_type.md").write_text("left over\n")

    rc = docs.main(["--check", "--root", str(checkout)])

    err = capsys.readouterr().err
    assert rc == 1
    assert "run `make docs`" in err
    assert "docs/resources/policy.md: differs" in err
    assert "docs/data-sources/kv_secret_v2.md: missing" in err
    assert "docs/resources/removed_type.md: not generated" in err
    assert "identity_entity.md" not in err


def test_an_edited_example_makes_its_page_drift(checkout: Path) -> None:
    example = checkout / docs.resource_example("vault_policy")
    example.write_text(example.read_text() + "\n# one more line\n")

    assert docs.drift(checkout) == ["docs/resources/policy.md: differs"]


def test_generating_fixes_every_drift_and_leaves_hand_written_docs_alone(checkout: Path) -> None:
    (checkout / "docs/resources/policy.md").write_text("edited by hand\n")
    (checkout / "docs/resources/removed_type.md").write_text("left over\n")
    operator = (checkout / "docs/operator.md").read_text()

    assert docs.main(["--root", str(checkout)]) == 0

    assert docs.drift(checkout) == []
    assert not (checkout / "docs/resources/removed_type.md").exists()
    assert (checkout / "docs/operator.md").read_text() == operator
    assert docs.main(["--check", "--root", str(checkout)]) == 0


def test_a_missing_example_is_an_error_naming_the_file(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (checkout / docs.import_script("vault_policy")).unlink()

    assert docs.main(["--check", "--root", str(checkout)]) == 1
    assert "examples/terraform/resources/vault_policy/import.sh is missing" in capsys.readouterr().err


def test_output_is_the_same_on_every_run() -> None:
    assert docs.generate(ROOT) == docs.generate(ROOT)


# ---- page layout --------------------------------------------------------------------------------------


def test_a_resource_page_has_front_matter_example_schema_and_import_in_that_order() -> None:
    page = (ROOT / "docs/resources/agent_registration.md").read_text()
    example = (ROOT / docs.resource_example("vault_agent_registration")).read_text().strip()
    script = (ROOT / docs.import_script("vault_agent_registration")).read_text().strip()

    assert page.startswith("---\n# generated by `make docs`")
    assert 'page_title: "vault_agent_registration Resource - terraform-provider-vault"' in page
    assert 'subcategory: "Agent Registry"' in page
    assert "# vault_agent_registration (Resource)" in page
    assert f"```terraform\n{example}\n```" in page
    assert f"```shell\n{script}\n```" in page
    headings = ["## Example Usage", "## Schema", "### Required", "### Optional", "### Read-Only", "## Import"]
    positions = [page.index(h) for h in headings]
    assert positions == sorted(positions)


def test_a_data_source_page_has_no_import_section() -> None:
    page = (ROOT / "docs/data-sources/kv_secret_v2.md").read_text()

    assert "# vault_kv_secret_v2 (Data Source)" in page
    assert "## Import" not in page


def test_the_provider_page_documents_its_arguments_and_the_headers_block() -> None:
    page = (ROOT / docs.PROVIDER_PAGE).read_text()

    assert "# vault Provider" in page
    assert "- `token` (string, sensitive) " in page
    assert "- `headers` (block list) " in page
    assert "### Nested Schema for `headers`" in page


def test_the_profile_page_documents_public_keys_as_a_nested_block() -> None:
    page = (ROOT / "docs/resources/oauth_resource_server_config_profile.md").read_text()

    assert "(see [below for nested schema](#nestedblock--public_keys))" in page
    nested = page[page.index('<a id="nestedblock--public_keys"></a>') :]
    assert "Required:\n\n- `key_id` (string) " in nested
    assert "- `pem` (string) " in nested


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (String(), "string"),
        (Bool(), "bool"),
        (Number(), "number"),
        (NormalizedJson(), "string"),
        (List(String()), "list(string)"),
        (Set(String()), "set(string)"),
        (Map(String()), "map(string)"),
        (List(Object({"key_id": String(), "pem": String()})), "list(object({key_id = string, pem = string}))"),
    ],
)
def test_types_are_written_as_terraform_type_constraints(type_: object, expected: str) -> None:
    assert docs.type_constraint(type_) == expected


def render(schema: Schema, defaults: dict[str, object] | None = None) -> str:
    return "\n".join(docs.render_schema(schema, defaults))


def test_attributes_are_grouped_required_optional_read_only_with_their_flags() -> None:
    schema = Schema(
        attributes=[
            Attribute("computed_one", String(), computed=True, description="Set by the server."),
            Attribute("name", String(), required=True, requires_replace=True, description="The name."),
            Attribute("secret", String(), optional=True, sensitive=True, description="A secret."),
            Attribute("tags", Set(String()), optional=True, computed=True, description="Tags."),
        ]
    )

    assert render(schema) == "\n".join(
        [
            "## Schema",
            "",
            "### Required",
            "",
            "- `name` (string, forces replacement) The name.",
            "",
            "### Optional",
            "",
            "- `secret` (string, sensitive) A secret.",
            "- `tags` (set(string)) Tags.",
            "",
            "### Read-Only",
            "",
            "- `computed_one` (string) Set by the server.",
        ]
    )


def test_a_default_is_stated_once() -> None:
    schema = Schema(
        attributes=[
            Attribute("flag", Bool(), optional=True, computed=True, default=False, description="A flag."),
            Attribute("claim", String(), optional=True, computed=True, description="A claim."),
            Attribute("said", Bool(), optional=True, computed=True, default=True, description="Said. Default: `true`."),
        ]
    )

    text = render(schema, {"claim": "sub"})

    assert "- `flag` (bool) A flag. Default: `false`." in text
    assert '- `claim` (string) A claim. Default: `"sub"`.' in text
    assert text.count("Default:") == 3


def test_nested_blocks_get_their_own_linked_sections_with_their_nesting() -> None:
    inner = ListNestedBlock("rule", Block(attributes=[Attribute("path", String(), required=True, description="P.")]))
    schema = Schema(
        block_types=[
            ListNestedBlock(
                "keys",
                Block(attributes=[Attribute("kid", String(), required=True, description="K.")], description="A key."),
                min_items=1,
            ),
            NestedBlock(
                "limits",
                NestMode.Set,
                Block(
                    attributes=[Attribute("rate", Number(), computed=True, description="R.")],
                    block_types=[inner],
                    description="Limits.",
                ),
                max_items=2,
            ),
        ]
    )

    text = render(schema)

    assert (
        "### Required\n\n- `keys` (block list, at least 1) A key. (see [below for nested schema](#nestedblock--keys))"
        in text
    )
    assert "### Optional\n\n- `limits` (block set, at most 2) Limits." in text
    assert '<a id="nestedblock--limits--rule"></a>\n### Nested Schema for `limits.rule`' in text
    assert "Read-Only:\n\n- `rate` (number) R." in text
