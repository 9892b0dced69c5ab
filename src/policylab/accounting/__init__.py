"""policylab.accounting."""
