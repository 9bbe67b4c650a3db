"""Baking the AMI: Packer templates, bookkeeping of baked AMIs, one bake with its Packer source seam (AWS, local region)."""
