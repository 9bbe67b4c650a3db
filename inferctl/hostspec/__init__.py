"""Running the image's testinfra suite (image/spec) against a host, through the channel the host
has: SSH during a bake, SSM Run Command on AWS (ssm.py), nsenter into a local region's host,
this machine. runner.py turns a target URL into a testinfra host and runs the suite."""
