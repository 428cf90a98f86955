"""The console's templates keep to its Content-Security-Policy (``style-src 'self'``, no scripts).

The policy blocks inline ``style`` attributes and ``<style>``/``<script>`` elements: a template
using one renders wrongly in every browser. The browser suite sees it only on the pages it
visits; this reads every template.
"""

import re
from pathlib import Path

import accord.console

TEMPLATES = Path(accord.console.__file__).parent / "templates"
INLINE = re.compile(r"\sstyle\s*=|<style[\s>]|<script[\s>]|\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_uses_inline_styles_or_scripts() -> None:
    found = sorted(TEMPLATES.rglob("*.html"))
    assert found, TEMPLATES
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()}"
        for path in found
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if INLINE.search(line)
    ]
    assert offenders == []
