"""Every invalid spec in the corpus fails with exactly the messages written in its `# expect:` lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.spec import SpecError, load_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = sorted((FIXTURES / "bad_specs").glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    return [line.split("# expect: ", 1)[1].rstrip() for line in path.read_text().splitlines() if line.startswith("# expect: ")]


def test_corpus_is_not_empty():
    assert len(BAD) >= 25


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_reports_exact_messages(path: Path):
    display = f"include/stacks/{path.name}"
    with pytest.raises(SpecError) as caught:
        load_stack(path, modules_dir=FIXTURES / "modules", display=display)
    expected = sorted(f"{display}: {line}" for line in expected_lines(path))
    assert expected, f"{path.name} has no '# expect:' line"
    assert caught.value.lines() == expected
