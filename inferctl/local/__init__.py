"""The local stack: what stands in for AWS on one machine (root, Debian 12)."""
