"""Splice bench/results/*.md into README.md between <!-- bench:NAME --> ... <!-- /bench:NAME -->.

python -m bench.update_readme
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def splice(readme: str, name: str, body: str) -> str:
    """README text with the block for `name` replaced by `body` (demoting its headings)."""
    body = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", body.strip(), flags=re.M)
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(\n<!-- /bench:{name} -->)", re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no <!-- bench:{name} --> block; add one where it belongs")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), readme)


def main() -> None:
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    for result in sorted(RESULTS.glob("*.md")):
        readme = splice(readme, result.stem, result.read_text())
    readme_path.write_text(readme)
    print(f"README.md updated from {len(list(RESULTS.glob('*.md')))} result files")


if __name__ == "__main__":
    main()
