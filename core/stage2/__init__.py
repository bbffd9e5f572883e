"""core/stage2 package."""
