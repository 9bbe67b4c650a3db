"""Baking the AMI: Packer templates, bookkeeping of baked AMIs, the AWS and local bakes."""
