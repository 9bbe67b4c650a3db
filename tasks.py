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
    """Build the API image; print its id and size."""
    from inferctl import app_image as image
    ca = None if extra_ca == "none" else (extra_ca or image.host_ca_bundle())
    print(image.build(tag=tag, base_image=base, extra_ca=ca, extras=extras))


@task(help={"port": "port on 127.0.0.1", "workers": "gunicorn workers", "worker_class": "asgi, sync or gthread"})
@clean_errors
def app_serve(c, port=8000, workers=2, worker_class="asgi"):
    """Serve the API on 127.0.0.1 (gunicorn)."""
    from inferctl import app_serve as serve
    serve.run(port=port, workers=workers, worker_class=worker_class)


@task(help={"duration": "seconds per measurement", "connections": "wrk connections",
            "rounds": "turns per contender (median shown)", "contenders": "comma list of asgi, sync, express"})
def app_bench(c, duration=10, connections=50, rounds=1, contenders="asgi,sync,express"):
    """wrk benchmark: the API vs an Express twin."""
    import shlex
    import sys

    from inferctl.paths import REPO
    c.run(shlex.join([sys.executable, str(REPO / "benchmarks" / "api_bench.py"), "--duration", str(int(duration)),
                      "--connections", str(int(connections)), "--rounds", str(int(rounds)),
                      "--contenders", contenders]))


app = Collection("app")
app.add_task(app_image, "image")
app.add_task(app_serve, "serve")
app.add_task(app_bench, "bench")


# --- local: the local stack (systemd-nspawn host, registry, moto) ----------------------
local = Collection("local")


@task(help={"port": "port on 127.0.0.1 (default: a free one)"})
@clean_errors
def moto_start(c, port=0):
    """Start the local AWS region (moto + the data plane, on loopback); prints its URL."""
    from inferctl.local import moto
    print(moto.start(int(port)))


@task
@clean_errors
def moto_stop(c):
    """Stop the local AWS region (its resources are forgotten, its instances' hosts removed)."""
    from inferctl.local import moto
    print("local region stopped" if moto.stop() else "the local region was not running")


local.add_task(moto_start)
local.add_task(moto_stop)


@task(help={"name": "host (machine) name", "image": "rootfs tarball to boot (a local AMI); default: bare Debian 12",
            "bare": "boot only: no recipe (what `bake --local` starts from)",
            "cleanup": "also run the recipe's cleanup and check, then reboot (a live host)"})
@clean_errors
def host_up(c, name="inferctl-host", image="", bare=False, cleanup=False):
    """Boot a local systemd host (nspawn) and, unless --bare or --image, provision it with the recipe."""
    from inferctl import config
    from inferctl.local import host, provision
    h = host.LocalHost.create(name, image or None)
    print(f"{name}: booted in {h.boot():.1f}s at {h.address}")
    if not (bare or image):
        tracked, pin = provision.publish_app(config.load())
        provision.provision(h, tracked, pin, cleanup=cleanup)
        if cleanup:
            print(f"{name}: rebooted in {h.restart():.1f}s")
    print(f"{name}: up. http://{h.address}/health  shell: invoke local.host-shell --name {name}"
          f"  ssh: ssh -i {h.key_path} {host.BOOTSTRAP_USER}@{h.address}")


@task(help={"name": "host name", "all": "every local host, the registry and the network"})
@clean_errors
def host_down(c, name="inferctl-host", all=False):
    """Stop and remove a local host (process, namespace, disk); --all also the registry and network."""
    from inferctl.local import host, netns, registry
    for each in host.LocalHost.names() if all else [name]:
        print(f"{each}: {'removed' if host.down(each) else 'not found'}")
    if all:
        registry.stop(force=True)
        netns.teardown()


@task(help={"name": "host name", "command": "run this instead of an interactive shell"})
@clean_errors
def host_shell(c, name="inferctl-host", command=""):
    """A root shell (or one command) inside a local host, through nsenter (no sshd needed)."""
    import subprocess
    from inferctl.local import host
    h = host.LocalHost.load(name)
    argv = ["sh", "-c", command] if command else ["bash", "-l"]
    raise Exit(code=subprocess.call(h.guest_argv(argv, term="xterm")))


@task(help={"target": "host URL: nspawn://NAME, ssh://user@host, ssm://i-...", "phase": "bake or live",
            "report": "JUnit XML path"})
@clean_errors
def host_spec(c, target="nspawn://inferctl-host", phase="live", report="build/host-spec.xml"):
    """Run the image's testinfra suite (image/spec) against a host."""
    from inferctl.hostspec.runner import run_spec
    result = run_spec(target, phase, report)
    print(result.summary())
    if not result.passed:
        raise Exit(code=1)


@task
@clean_errors
def registry_start(c):
    """Start the local registry (docker-registry on 10.99.0.1:5000, the stand-in for ECR)."""
    from inferctl.local import registry
    registry.start()
    print(f"registry up at {registry.ADDRESS}")


@task
@clean_errors
def registry_stop(c):
    """Stop the local registry (even while other local processes use it)."""
    from inferctl.local import registry
    registry.stop(force=True)


for _t in (host_up, host_down, host_shell, host_spec, registry_start, registry_stop):
    local.add_task(_t)


# --- verify + rebake: prove a live deployment, keep the image fresh --------------------
@task(help={"host": "URL, DNS name, instance id, tag=Key:Value or nspawn://NAME (default: the "
                    "local host, or the service's DNS name / Project tag on AWS)",
            "api_key": "the service's API key (default: $INFERCTL_API_KEY, --api-key-file, the host's "
                       "own key locally, SSM /<project>/api-key on AWS)",
            "api_key_file": "file whose first line is the API key", "no_spec": "HTTP checks only",
            "samples": "inference requests timed for p50/max", "timeout": "seconds per request",
            "ca_file": "extra CA (PEM) to trust for the TLS check", "report": "JSON report path",
            "local": "the local region, whatever project.target says"})
@clean_errors
def verify(c, host="", api_key="", api_key_file="", no_spec=False, samples=5, timeout=10, ca_file="",
           report="", local=False):
    """Verify a live deployment: HTTP checks + the image's testinfra suite; non-zero exit on any failure."""
    from inferctl import config, verify as checks
    from inferctl.target import with_target
    cfg = with_target(config.load(), local)
    result = checks.run(host or checks.default_target(cfg), cfg, api_key=api_key, api_key_file=api_key_file,
                        with_spec=not no_spec, samples=int(samples), timeout=float(timeout),
                        ca_file=ca_file or None, report_path=report or None)
    raise Exit(code=result.exit_code())


@task(help={"host": "as verify's --host (default: the service's hosts)",
            "local": "the local region, whatever project.target says"})
@clean_errors
def update(c, host="", local=False):
    """Run the hosts' updater now (one host after another), not at its next timer run."""
    from inferctl import config, update as updater
    from inferctl.target import with_target
    updater.run(with_target(config.load(), local), host)


@task(help={"force": "rebake even when no input changed", "local": "the local region, whatever project.target says"})
@clean_errors
def rebake(c, force=False, local=False):
    """Nightly: rebake only if the source AMI, recipe or app digest changed; canary, verify, promote, roll, prune."""
    from inferctl import config, rebake as nightly
    from inferctl.target import with_target
    outcome = nightly.run(with_target(config.load(), local), force=force)
    raise Exit(code=outcome.exit_code)


# --- bake: the AMI (packer/, image/) and its bookkeeping -------------------------------
@task(help={"local": "bake in the local region: Packer (null source) over SSH on a bare local host, "
                     "registered in the region (no AWS)",
            "release": "refuse a dirty git tree", "if_changed": "bake only if the source image, the recipe "
            "or the app digest changed since the newest baked AMI (nightly rebake)"})
@clean_errors
def bake(c, local=False, release=False, if_changed=False):
    """Bake the AMI (tested by the image's testinfra suite); prints its id, writes /<project>/ami/candidate."""
    from inferctl import config
    from inferctl.bake import front
    from inferctl.target import with_target
    front.bake(with_target(config.load(), local), release=release, if_changed=if_changed)


@task(help={"verified": "confirm the candidate passed `invoke verify` (required)",
            "ami": "AMI id to promote (default: the candidate)", "local": "the local region, whatever project.target says"})
@clean_errors
def promote(c, verified=False, ami="", local=False):
    """Point /<project>/ami/latest at the candidate AMI, only after verification passed."""
    from inferctl import config
    from inferctl.bake import front
    from inferctl.target import with_target
    front.promote(with_target(config.load(), local), verified=verified, ami=ami)


@task(help={"apply": "really deregister and delete (default: dry run)",
            "keep": "newest AMIs to keep (default: [image] keep_amis)", "local": "the local region, whatever project.target says"})
@clean_errors
def prune(c, apply=False, keep=0, local=False):
    """Deregister old baked AMIs AND delete their snapshots; never one in use. Dry run unless --apply."""
    from inferctl import config
    from inferctl.bake import front
    from inferctl.target import with_target
    front.prune(with_target(config.load(), local), apply=apply, keep=int(keep))


# --- top-level verbs -------------------------------------------------------------------
@task(help={"down": "remove everything the demo started (hosts, namespaces, daemons, state)"})
@clean_errors
def demo(c, down=False):
    """The whole pipeline on this machine, no AWS account: bake, deploy, boot, verify; --down removes it."""
    from inferctl import config, demo as demo_stack
    (demo_stack.down if down else demo_stack.up)(config.load())



@task(help={"local": "the local region, whatever project.target says",
            "yes": "apply without asking (the plan is still shown)"})
@clean_errors
def up(c, local=False, yes=False):
    """Empty account to verified service: app image, bake if no AMI is promoted, deploy, verify, promote."""
    from inferctl import config, up as stack
    from inferctl.target import with_target
    stack.up(with_target(config.load(), local), yes=yes)


# --- deploy / destroy / lint: Terraform (inferctl.deploy, inferctl.lint) -----------------
@task(help={"local": "deploy to the local region, whatever project.target says",
            "yes": "apply without asking (the plan is still shown)",
            "ami": "AMI id to run (default: the channel parameter /<project>/ami/latest)",
            "image": "build and push the app image first (--no-image: infrastructure only)"})
@clean_errors
def deploy(c, local=False, yes=False, ami=None, image=True):
    """Push the app image, then plan/apply the Terraform with the AMI and its digest; prints the URL."""
    from inferctl import config, deploy as deployer
    from inferctl.target import with_target
    deployer.deploy(with_target(config.load(), local), yes=yes, ami=ami, image=image)


@task(help={"local": "destroy in the local region", "yes": "do not ask"})
@clean_errors
def destroy(c, local=False, yes=False):
    """Tear down everything deploy created (shows the plan, asks unless --yes)."""
    from inferctl import config, deploy as deployer
    from inferctl.target import with_target
    deployer.destroy(with_target(config.load(), local), yes=yes)


@task
@clean_errors
def lint_terraform(c):
    """terraform fmt -check and checkov (own venv under the cache, offline) over terraform/."""
    from inferctl import lint
    lint.terraform()


lint = Collection("lint")
lint.add_task(lint_terraform, "terraform")


ns = Collection(test)
ns.add_collection(app)
ns.add_collection(local)
ns.add_collection(lint)
ns.add_task(demo)
ns.add_task(deploy)
ns.add_task(up)
ns.add_task(destroy)
ns.add_task(verify)
ns.add_task(update)
ns.add_task(rebake)
for _t in (bake, promote, prune):
    ns.add_task(_t)
