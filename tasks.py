"""invoke front: one task per verb, each a few lines calling the inferctl package.

`invoke --list` shows them all; `invoke --help TASK` shows a task's options.
"""

from invoke import Collection, Exit, task

from inferctl import testing
from inferctl.cli import clean_errors


@task(help={"tier": "tier(s) to run, repeatable: " + ", ".join(testing.TIERS) + " (default: all)",
            "pytest": "extra arguments passed to pytest, e.g. '-k health -x'"},
      iterable=["tier"])
@clean_errors
def test(c, tier=None, pytest=""):
    """Run the test tiers (all of them by default, as CI does)."""
    code = testing.run(tier or list(testing.TIERS), pytest.split())
    if code:
        raise Exit(code=code)


# --- app: the inference API (falcon_app/) ---------------------------------------------
app = Collection("app")


# --- local: the local stack (systemd-nspawn host, registry, moto) ----------------------
local = Collection("local")


# --- top-level verbs -------------------------------------------------------------------


ns = Collection(test)
ns.add_collection(app)
ns.add_collection(local)
