"""policylab.inference."""
