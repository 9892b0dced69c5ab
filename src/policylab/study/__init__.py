"""policylab.study."""
