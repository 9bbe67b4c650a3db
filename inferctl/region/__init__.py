"""The local AWS region: moto as the control plane, local hosts as the data plane.

The product has one code path, the AWS one; the local region differs from AWS in four seams:
- the endpoint: boto3 and the Terraform provider reach this region through their standard
  endpoint settings (``AWS_ENDPOINT_URL`` / provider endpoints), fake credentials;
- what an instance is: a running instance whose AMI has a local disk is a systemd-nspawn host
  booted from that disk with the instance's user-data, at the private address the region gave
  it, with an instance metadata service (dataplane.py, imds.py);
- the Packer source (inferctl.bake): a Packer build on a local host instead of amazon-ebs;
- the channel to a host: SSM on AWS, nsenter locally (inferctl.verify.targets).

``server.py`` is the region's process: moto's own WSGI app with the data plane hooked into
moto's EC2 backend, so an instance launched by any client (Terraform, an Auto Scaling group,
a canary) comes alive the same way.
"""
