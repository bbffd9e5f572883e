"""core/hyp package."""
