"""inferctl: bake, deploy, verify and keep fresh an inference service on AWS EC2.

The invoke tasks in ``tasks.py`` are a thin front over this package; every verb's logic
lives in a module here, and everything also runs locally (moto + a systemd-nspawn host).
"""

__version__ = "0.1.0"
