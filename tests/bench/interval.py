"""A 95% confidence interval for the median of paired ratios, for the bench scripts.

Why: on a shared 2-core VM one round's TPS swings by 10-20%, so a median of 3-6 paired
ratios cannot tell a 3% difference from noise, and a table of medians alone invites
reading one. The interval says how far the median could be off: a target such as "pgDog
at least as fast as PgBouncer" is shown only when the whole interval clears it.

The interval is the distribution-free one for a median (from the sign test): with the n
ratios sorted, [x_k, x_(n-k+1)] covers the true median with probability
1 - 2 * P(Binomial(n, 1/2) < k), and k is the largest that keeps that at 95% or more. It
assumes nothing about the shape of the noise, only that rounds are independent. Below 6
rounds no such k exists and there is no interval.

Used by run.sh (imported) and lib.sh (`python3 interval.py RATIO...` prints "lo hi", or
"- -" when there are too few).
"""

import math
import sys

LEVEL = 0.95


def median_interval(values, level=LEVEL):
    """(lo, hi) around the median of `values`, or None when there are too few of them."""
    xs = sorted(values)
    n = len(xs)
    best = None
    below = 0.0  # P(Binomial(n, 1/2) < k), built up one term per k
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2**n
        if 1 - 2 * below < level:
            break
        best = k
    if best is None:
        return None
    return xs[best - 1], xs[n - best]


def main(args):
    interval = median_interval([float(a) for a in args])
    print("- -" if interval is None else f"{interval[0]:.4f} {interval[1]:.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
