"""policylab.report."""
