"""inference_host: the programs that run on the inference host.

Python 3 standard library only, for the host's own python3 (Ubuntu 24.04 on AWS, Debian 12
locally). image/provision/20-files.sh installs it as /usr/local/lib/inference/inference_host,
compiled, root's and writable by root only. The executables the units and the timer call are thin
entry points that put /usr/local/lib/inference first on sys.path (they run as `python3 -I`, which
ignores PYTHONPATH and the script's own directory) and call a ``main``:

    /usr/local/sbin/inference-update    updater_cli.main  (the timer, the operator)
    /usr/local/lib/inference/api-keys   keys.main         (inference-api-keys.service)
    /usr/local/lib/inference/logship    logship.main      (inference-logship.service)
    /usr/local/lib/inference/certstore  certstore.main    (inference-certstore-{restore,save}.service)

The slots' start gate, /usr/local/lib/inference/wait-healthy, stays a shell script (curl).
"""
