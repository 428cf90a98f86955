"""``make security``: pip-audit over the installed dependencies; fails on any known vulnerability.

Runs ``pip-audit`` (PyPI's vulnerability data) on this environment, the editable Accord
itself left out, and reads its JSON report:

- any dependency with a known vulnerability: listed, exit 1;
- dependencies the index has no data for (a version PyPI does not list, a private mirror's
  build): counted and named on one line, so that a vacuous pass is visible; exit 0.

pip-audit failing to run at all (no network) is a failure: the check did not happen.
"""

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> int:
    done = subprocess.run(
        [str(BIN / "pip-audit"), "--skip-editable", "--progress-spinner", "off", "-f", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        print(f"pip-audit did not run: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason") and d.get("name") != "accord"]
    audited = len(deps) - len(skipped) - sum(1 for d in deps if d.get("name") == "accord")
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    print(
        f"pip-audit: {audited} dependencies audited, {len(vulnerable)} with known "
        f"vulnerabilities; {len(skipped)} not on the index's vulnerability data"
        + (f" ({', '.join(sorted(d['name'] for d in skipped)[:8])}, ...)" if skipped else "")
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    raise SystemExit(main())
