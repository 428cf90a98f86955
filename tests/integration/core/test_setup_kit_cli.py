"""``accord setup-kit`` as an administrator runs it."""

import subprocess

from tests.support import accord_cmd, accord_env


def test_setup_kit_writes_each_system_and_refuses_an_unknown_one(tmp_path):
    env = accord_env(f"sqlite:///{tmp_path / 'accord.db'}", COLUMNS="200")
    out = tmp_path / "kit"
    bad = subprocess.run(
        accord_cmd("setup-kit", "--erp", "sap", "--out", str(out)),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "netsuite or business_central" in bad.stderr
    done = subprocess.run(
        accord_cmd(
            "setup-kit", "--psa", "certinia", "--erp", "business_central", "--out", str(out)
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "business_central", "salesforce"]
    assert (
        out / "salesforce" / "force-app" / "main" / "default" / "objects" / "pse__Proj__c"
    ).is_dir()
    assert "Certinia PSA" in (out / "README.md").read_text()
