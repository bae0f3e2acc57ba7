"""GitOps revert tests (real git, bare repositories in temp dirs)."""
