"""data/README.md documents the contract exactly as lib/userops/contract.py declares it."""

from pathlib import Path

from userops.contract import markdown

ROOT = Path(__file__).resolve().parents[2]


def test_data_readme_embeds_the_generated_contract():
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert markdown() in text, (
        "data/README.md is stale: regenerate its Tables block from userops.contract.markdown()"
    )
