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
@task(help={"tag": "image tag to build", "base": "base image (default: python:3.11-slim if present, "
            "else a local debootstrap image)", "extra_ca": "PEM CA file pip in the build should trust "
            "(default: this machine's bundle; 'none' for no extra CA)", "extras": "'' or 'onnx'"})
@clean_errors
def app_image(c, tag="inference:dev", base=None, extra_ca=None, extras=""):
    """Build the API's container image; print its id and size."""
    from inferctl import app_image as image
    ca = None if extra_ca == "none" else (extra_ca or image.host_ca_bundle())
    print(image.build(tag=tag, base_image=base, extra_ca=ca, extras=extras))


@task(help={"port": "port on 127.0.0.1", "workers": "gunicorn workers", "worker_class": "asgi, sync or gthread"})
@clean_errors
def app_serve(c, port=8000, workers=2, worker_class="asgi"):
    """Serve the API locally: gunicorn on 127.0.0.1, prints a sample request."""
    from inferctl import app_serve as serve
    serve.run(port=port, workers=workers, worker_class=worker_class)


app = Collection("app")
app.add_task(app_image, "image")
app.add_task(app_serve, "serve")


# --- local: the local stack (systemd-nspawn host, registry, moto) ----------------------
local = Collection("local")


@task(help={"port": "port on 127.0.0.1 (default: a free one)"})
@clean_errors
def moto_start(c, port=0):
    """Start the local AWS endpoint (moto server on loopback); prints its URL."""
    from inferctl.local import moto
    print(moto.start(int(port)))


@task
@clean_errors
def moto_stop(c):
    """Stop the local AWS endpoint (its resources are forgotten)."""
    from inferctl.local import moto
    print("moto stopped" if moto.stop() else "moto was not running")


local.add_task(moto_start)
local.add_task(moto_stop)


# --- verify + rebake: prove a live deployment, keep the image fresh --------------------
@task(help={"host": "URL, DNS name, instance id, tag=Key:Value or nspawn://NAME (default: the "
                    "local host, or the service's DNS name / Project tag on AWS)",
            "api_key": "the service's API key (default: $INFERCTL_API_KEY, --api-key-file, the host's "
                       "own key locally, SSM /<project>/api-key on AWS)",
            "api_key_file": "file whose first line is the API key", "no_spec": "HTTP checks only",
            "samples": "inference requests timed for p50/max", "timeout": "seconds per request",
            "ca_file": "extra CA (PEM) to trust for the TLS check", "report": "JSON report path"})
@clean_errors
def verify(c, host="", api_key="", api_key_file="", no_spec=False, samples=5, timeout=10, ca_file="",
           report=""):
    """Verify a live deployment: HTTP checks + the image's testinfra suite; non-zero exit on any failure."""
    from inferctl import config, verify as checks
    cfg = config.load()
    result = checks.run(host or checks.default_target(cfg), cfg, api_key=api_key, api_key_file=api_key_file,
                        with_spec=not no_spec, samples=int(samples), timeout=float(timeout),
                        ca_file=ca_file or None, report_path=report or None)
    raise Exit(code=result.exit_code())


# --- top-level verbs -------------------------------------------------------------------


ns = Collection(test)
ns.add_collection(app)
ns.add_collection(local)
ns.add_task(verify)
