"""Which revert still stands: the revert-of-revert chain, checked against its parity."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from auspice.gitops.history import _standing_revert

RELEASE = "a" * 40


def sha(n: int) -> str:
    return hashlib.sha1(str(n).encode()).hexdigest()  # distinct within their first 10 digits


@given(
    depth=st.integers(min_value=0, max_value=12), noise=st.integers(0, 5), abbreviate=st.booleans()
)
def test_a_chain_of_reverts_leaves_the_release_reverted_exactly_when_it_is_odd(
    depth: int, noise: int, abbreviate: bool
) -> None:
    # release <- r1 reverts release <- r2 reverts r1 <- ... (newest first, as git log lists)
    chain = [sha(i + 1) for i in range(depth)]
    targets = [RELEASE, *chain][:depth]
    reverts = [(c, (t[:10] if abbreviate else t,)) for c, t in zip(chain, targets, strict=True)]
    unrelated = [(sha(1000 + i), (sha(2000 + i),)) for i in range(noise)]
    listed = list(reversed(reverts)) + unrelated

    standing = _standing_revert(RELEASE, listed, depth=0)

    assert (standing is not None) == (depth % 2 == 1)
    if standing is not None:
        assert standing == chain[0]


def test_a_second_standing_revert_is_found_when_the_first_was_undone() -> None:
    # r1 reverted the release, r2 re-landed it (reverted r1), r3 reverted the release again.
    listed = [(sha(3), (RELEASE,)), (sha(2), (sha(1),)), (sha(1), (RELEASE,))]
    assert _standing_revert(RELEASE, listed, depth=0) == sha(3)
